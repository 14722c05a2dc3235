"""The end anchor of the JSON Schema patterns and of the Python checks that share them."""

# JSON Schema reads `pattern` as an ECMA-262 regular expression, whose `$` matches
# only at the end of the text. Python's `re` also lets `$` match before a final line
# break, so r"^[0-9]+s$" accepts "5s\n". A pattern ends with END instead. In Python
# its lookahead rejects that final line break, and in ECMA-262 it changes nothing.
END = r"$(?!\n)"
