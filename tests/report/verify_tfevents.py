#!/usr/bin/env python3
"""Independent check of a dpo.cpp TensorBoard event file: Google's protobuf runtime (Debian
python3-protobuf) decodes every Event from a descriptor built here with TensorFlow's field numbers,
each record re-serializes to the same bytes, and both CRCs match a bitwise CRC32C written here.
Usage: verify_tfevents.py EVENT_FILE  (prints one line per event, then OK). Used by tensorboard_test."""
import struct, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

fdp = descriptor_pb2.FileDescriptorProto(name="event.proto", package="tensorflow", syntax="proto3")
F = descriptor_pb2.FieldDescriptorProto
def msg(name, fields):
    m = fdp.message_type.add(name=name)
    for fname, num, typ, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=typ, label=label)
        if tname: f.type_name = tname
    return m
msg("SummaryValue", [("tag", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, None), ("simple_value", 2, F.TYPE_FLOAT, F.LABEL_OPTIONAL, None)])
msg("Summary", [("value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tensorflow.SummaryValue")])
msg("SessionLog", [("status", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, None)])
msg("Event", [("wall_time", 1, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, None), ("step", 2, F.TYPE_INT64, F.LABEL_OPTIONAL, None),
              ("file_version", 3, F.TYPE_STRING, F.LABEL_OPTIONAL, None), ("summary", 5, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tensorflow.Summary"),
              ("session_log", 7, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tensorflow.SessionLog")])
pool = descriptor_pool.DescriptorPool(); pool.Add(fdp)
Event = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tensorflow.Event"))

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
def masked(c): return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

buf = open(sys.argv[1], "rb").read(); pos = 0
while pos < len(buf):
    (n,) = struct.unpack_from("<Q", buf, pos); (lc,) = struct.unpack_from("<I", buf, pos + 8)
    assert lc == masked(crc32c(buf[pos:pos + 8])), "length crc"
    data = buf[pos + 12:pos + 12 + n]; (dc,) = struct.unpack_from("<I", buf, pos + 12 + n)
    assert dc == masked(crc32c(data)), "data crc"
    e = Event(); e.ParseFromString(data)
    assert e.SerializeToString() == data, "not canonical protobuf"
    print(e.step, e.file_version or "", [(v.tag, v.simple_value) for v in e.summary.value], e.session_log.status if e.HasField("session_log") else "")
    pos += 12 + n + 4
print("OK")
