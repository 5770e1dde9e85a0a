"""Media plane: SFU (producer, consumer, forwarder, room), stream sampling and the face pipeline.

Built by the live-room issue; the SFU forwards encoded RTP and decodes only what it samples.
"""
