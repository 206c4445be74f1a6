#!/usr/bin/env python3
"""Prints a .cu file with each kernel<<<grid, block, shared, stream>>>(args) rewritten as
emu::launch(kernel, dim3(grid), dim3(block), args) so that a C++ compiler can build it
against cuda/emu/emu.h. Usage: rewrite_launches.py FILE.cu > FILE.cpp"""
import re
import sys


def split_top_level(text):
    parts, depth, cur = [], 0, ''
    for ch in text:
        depth += ch in '([{'
        depth -= ch in ')]}'
        if ch == ',' and depth == 0:
            parts.append(cur.strip())
            cur = ''
        else:
            cur += ch
    return parts + [cur.strip()]


def rewrite(src):
    out, i = [], 0
    while (j := src.find('<<<', i)) >= 0:
        name = re.search(r'([A-Za-z_]\w*)\s*$', src[:j])
        k = src.find('>>>', j)
        if not name or k < 0 or src[k + 3] != '(':
            sys.exit('rewrite_launches.py: cannot parse the launch at offset %d' % j)
        grid, block = split_top_level(src[j + 3:k])[:2]
        out.append(src[i:name.start(1)])
        out.append('emu::launch(%s, dim3(%s), dim3(%s), ' % (name.group(1), grid, block))
        out.append('\n' * src.count('\n', j, k))  # keep line numbers (#line below)
        i = k + 4
    out.append(src[i:])
    return ''.join(out)


if __name__ == '__main__':
    sys.stdout.write('#line 1 "%s"\n' % sys.argv[1])
    sys.stdout.write(rewrite(open(sys.argv[1]).read()))
