#!/usr/bin/python3
# Reads a YAML test suite (several documents) on stdin and writes it on
# stdout as one JSON array, ASCII only, so that the C test needs no YAML
# parser.  Exit status 2 when python3-yaml is missing.
import json
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write('python3-yaml is not installed\n')
    sys.exit(2)



def nul_safe(value):
    # JSON strings reach C as NUL-terminated strings: one with a NUL
    # character goes as {"hex": its UTF-8 octets in hex} instead
    if isinstance(value, str) and '\0' in value:
        return {'hex': value.encode('utf-8').hex()}
    if isinstance(value, list):
        return [nul_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: nul_safe(v) for k, v in value.items()}
    return value


docs = [nul_safe(d) for d in yaml.safe_load_all(sys.stdin) if d is not None]
json.dump(docs, sys.stdout, ensure_ascii=True)
