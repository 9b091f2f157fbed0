"""Where an OFD request frame may hold what a buyer gave the cashier, besides the typed contacts.

The protocol's typed buyer fields (extension_options' e-mail, phone, IIN/BIN) become our receipt's buyer and
are kept as the buyer-data rules say (gateway/security/buyer_data.py). The request frame, kept whole as the
event's evidence, has more places a buyer's words reach: the receipt's printed text (it prints the contacts
the cashier typed in), the free key-value pairs of extension_options, of a line, of a discount or markup
and of the service part, a utility account number, a fuel card number. None of them is mapped into our
receipt (docs/ofd.md), so only the evidence holds them; and free text cannot be told apart (a phone number
or a loyalty code), so a frame holding any of them is taken to name a buyer: its evidence is kept only as
buyer data may be kept. Presence decides, not content: a field sent twice keeps only its last value in
the parse, but every occurrence is in the frame.

Left out: the cashier's name, goods names, card RRNs and the like (the seller's words, mapped into our
receipt and kept as ours are), a second body an item carries besides the one of its type (the mapping
reads only that one).

Fields this schema does not know, at any depth (a newer protocol version's, which may be a buyer's): the
frame counts as one that may hold buyer data, named "unknown fields" (not the buyer's own part, so no
finding). Told by size: the parse with its unknown fields discarded re-encodes to another length than the
payload. A singular field sent twice, a non-canonical encoding or a value of a closed enum this schema does
not know re-encodes differently too, and counts the same (conservative); registers encoding with this
schema's protobuf (our simulator) or a standard encoder (the published frames) send none of these. The check
is a discard and a re-encoding of the parse, both in upb's C: measured 1.7 µs on a one-line ticket, 2.6 µs
on three lines, 6.7 µs on ten (about 0.6 µs a line, three times the parse's own cost), and only where no
part of ours is.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from gateway.wire import ofd_pb2

# The OFD frame's header, before the Request payload (gateway/ofd/framing.py HEADER_SIZE: the door is a layer
# above the buyer-data rules, which read the frames it keeps).
FRAME_HEADER_BYTES = 18
_ITEM = ofd_pb2.TicketRequest.Item
_BODY_OF_TYPE = {
    _ITEM.ITEM_TYPE_COMMODITY: "commodity", _ITEM.ITEM_TYPE_STORNO_COMMODITY: "storno_commodity",
    _ITEM.ITEM_TYPE_MARKUP: "markup", _ITEM.ITEM_TYPE_STORNO_MARKUP: "storno_markup",
    _ITEM.ITEM_TYPE_DISCOUNT: "discount", _ITEM.ITEM_TYPE_STORNO_DISCOUNT: "storno_discount",
}
_UNREADABLE = "payload (it does not parse)"
UNKNOWN_FIELDS = "unknown fields"
# The parts that are the buyer's by definition; the others (printed text, key-value pairs) are what many
# registers fill on every receipt, and may or may not hold a buyer's words.
BUYERS_OWN = ("extension_options", "domain account number", "domain card number")


def buyer_text_in(request: ofd_pb2.Request) -> str:
    """The first part of the request that may hold buyer data, named for a finding ("" if none)."""
    if request.HasField("service") and request.service.auxiliary:
        return "service auxiliary"
    if not request.HasField("ticket"):  # other documents carry no buyer: cash movements, Z reports, cancels
        return ""
    ticket = request.ticket
    if ticket.HasField("extension_options"):  # also empty or auxiliary-only: its every field is the buyer's
        return "extension_options"
    if ticket.HasField("printed_ticket"):
        return "printed_ticket"
    if ticket.HasField("domain"):
        domain = ticket.domain
        if domain.HasField("services"):
            return "domain account number"
        if domain.gasoil.HasField("card_number"):
            return "domain card number"
    amounts = ticket.amounts
    if amounts.markup.auxiliary or amounts.discount.auxiliary:
        return "receipt modifier auxiliary"
    # items[:]: a loop over a upb repeated field ends in a formatted IndexError (~2,000 instructions).
    for position, item in enumerate(ticket.items[:], start=1):
        if _item_auxiliary(item):
            return f"item {position} auxiliary"
    return ""


def _item_auxiliary(item: ofd_pb2.TicketRequest.Item) -> bool:
    """Whether an item's body has key-value pairs: the body of its type (one lookup, ~1 µs an item), or,
    for an item without that body (left out of our receipt as malformed, kept in the frame), any body."""
    body = _BODY_OF_TYPE.get(item.type)
    if body is not None and item.HasField(body):
        return len(getattr(item, body).auxiliary) > 0
    bodies = _BODY_OF_TYPE.values()
    return any(item.HasField(name) and len(getattr(item, name).auxiliary) > 0 for name in bodies)


def buyer_text_in_frame(frame: bytes) -> str:
    """buyer_text_in() of a request frame as the front door keeps it (header and payload); bytes that do
    not parse may hold anything, and fields this schema does not know may be a buyer's, so they count as
    buyer data too."""
    request = ofd_pb2.Request()
    try:
        # Partial, as the door decodes: a frame kept as evidence may lack a required field (content is
        # never refused), and what it holds counts all the same.
        request.MergeFromString(frame[FRAME_HEADER_BYTES:])
    except DecodeError:
        return _UNREADABLE
    where = buyer_text_in(request)
    if where:
        return where
    request.DiscardUnknownFields()  # recursive: every depth
    # Partial: ByteSize() raises on a missing required field, which a kept frame may lack.
    if len(request.SerializePartialToString()) != len(frame) - FRAME_HEADER_BYTES:
        return UNKNOWN_FIELDS
    return ""
