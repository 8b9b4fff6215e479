"""ANSI X12 decoding: tokenizer → envelope → one mapper per transaction set.

- ``tokenizer``: delimiters from the ISA, bytes → segments (whole or streamed).
- ``envelope``: ISA/GS/ST nesting, control numbers and counts.
- ``po_ack_855``, ``ship_notice_856`` (with ``hl_tree``), ``inventory_846``: the mappings.
- ``documents``: the registered decoder that ties them together.
"""
