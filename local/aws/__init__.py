"""The AWS side of the local stack: moto in a child process, the template read, its resources made."""
