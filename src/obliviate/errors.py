"""The one exception type for bad user input. The CLI prints its message as a single line (exit code 2);
each message names the problem and the fix."""


class ObliviateError(ValueError):
    """Bad input (config, data, model path, output dir...). The message says what is wrong and how to fix it."""
