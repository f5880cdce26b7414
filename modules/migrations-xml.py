#!/usr/bin/python3
"""Writes the GResource description that embeds a module's SQL migrations
in its shared object, under /org/epistle/migrations/<module>/.

usage: migrations-xml.py OUTPUT MODULE FILE...
"""
import os
import sys
from xml.sax.saxutils import escape


def main(argv):
    out, module, files = argv[1], argv[2], argv[3:]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<gresources>',
             f'  <gresource prefix="/org/epistle/migrations/{escape(module)}">']
    for f in sorted(files, key=os.path.basename):
        lines.append(f'    <file alias="{escape(os.path.basename(f))}">{escape(os.path.basename(f))}</file>')
    lines += ['  </gresource>', '</gresources>', '']
    with open(out, 'w') as fh:
        fh.write('\n'.join(lines))


if __name__ == '__main__':
    main(sys.argv)
