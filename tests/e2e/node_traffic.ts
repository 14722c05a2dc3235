// Record synthetic traffic on a generated metrics.ts and serve it on 127.0.0.1.
//
// Usage: node node_traffic.js PROFILE_JSON PORT, with metrics.ts compiled next to it.
//
// The profile has the format that python_traffic.py describes, with TypeScript
// identifiers. Every tick records the normal entries, then the fault entries once
// the process has received SIGUSR2. SIGUSR1 is not used because Node.js reserves it
// for the inspector. The process serves /metrics with the module's own
// startMetricsServer and runs until it is terminated.

import * as fs from "node:fs";
import * as metrics from "./metrics";

type Labels = Record<string, string>;

interface Entry {
  identifier: string;
  labels: Labels;
  inc?: number;
  set?: number;
  observe?: number[];
}

interface Profile {
  tick_seconds: number;
  normal: Entry[];
  fault: Entry[];
}

// The subset of prom-client's Counter, Gauge and Histogram that the entries call.
interface Recorder {
  inc(labels: Labels, value: number): void;
  set(labels: Labels, value: number): void;
  observe(labels: Labels, value: number): void;
}

const recorders = metrics as unknown as Record<string, Recorder>;

function record(entry: Entry): void {
  const recorder = recorders[entry.identifier];
  if (recorder === undefined) {
    throw new Error(`metrics.ts exports no metric named ${entry.identifier}`);
  }
  if (entry.inc !== undefined) {
    recorder.inc(entry.labels, entry.inc);
  } else if (entry.set !== undefined) {
    recorder.set(entry.labels, entry.set);
  } else if (entry.observe !== undefined) {
    for (const value of entry.observe) {
      recorder.observe(entry.labels, value);
    }
  } else {
    throw new Error(`entry for ${entry.identifier} has no action`);
  }
}

function main(): void {
  const [profilePath, portText] = process.argv.slice(2);
  const profile = JSON.parse(fs.readFileSync(profilePath, "utf-8")) as Profile;
  let fault = false;
  let faulted = false;
  process.on("SIGUSR2", () => {
    fault = true;
  });
  // Record one tick before serving, so that the first scrape returns every series.
  profile.normal.forEach(record);
  const server = metrics.startMetricsServer(Number(portText), "127.0.0.1");
  server.once("listening", () => console.log(`READY ${portText}`));
  setInterval(() => {
    profile.normal.forEach(record);
    if (fault) {
      profile.fault.forEach(record);
      if (!faulted) {
        faulted = true;
        console.log("FAULT recorded");
      }
    }
  }, profile.tick_seconds * 1000);
}

main();
