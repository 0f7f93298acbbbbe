"""A context manager that collects the messages one logger emits (also when it was disabled)."""

import logging


class Messages(logging.Handler):
    def __init__(self, name):
        super().__init__(logging.DEBUG)
        self.lines, self.logger = [], logging.getLogger(name)

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        self.logger.addHandler(self)
        self.old, self.logger.disabled = self.logger.disabled, False
        return self

    def __exit__(self, *a):
        self.logger.removeHandler(self)
