"""UN/EDIFACT: tokenizer, envelope checks and one module per message type.

``tokenizer`` turns bytes into :class:`~.tokenizer.Segment` objects, ``envelope`` checks
UNB/UNG/UNH ... UNT/UNE/UNZ around them, and ``ordrsp`` / ``desadv`` / ``invrpt`` map the
message bodies to canonical documents. ``documents.decode`` is the registered decoder.
"""
