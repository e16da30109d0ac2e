//! Transport faults observed from a raw TCP client.
