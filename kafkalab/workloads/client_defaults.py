"""Client defaults as the installed librdkafka and the pinned Java client report them."""
from __future__ import annotations

import ctypes
import html
import json
import os
import re
import subprocess
from pathlib import Path

from ..lab import topology

# Settings the acks, retries and batching chapters compare: Java name -> librdkafka's
# canonical name (the one rd_kafka_conf_dump reports).
PRODUCER_KEYS = {
    "acks": "request.required.acks",  # librdkafka's own name; "acks" is its alias
    "retries": "message.send.max.retries",
    "retry.backoff.ms": "retry.backoff.ms",
    "retry.backoff.max.ms": "retry.backoff.max.ms",
    "linger.ms": "queue.buffering.max.ms",
    "batch.size": "batch.size",
    "enable.idempotence": "enable.idempotence",
    "max.in.flight.requests.per.connection": "max.in.flight.requests.per.connection",
    "request.timeout.ms": "request.timeout.ms",
    "delivery.timeout.ms": "message.timeout.ms",
}

# The consumer-group chapters' settings: Java name -> librdkafka's name.
CONSUMER_KEYS = {
    "session.timeout.ms": "session.timeout.ms",
    "heartbeat.interval.ms": "heartbeat.interval.ms",
    "max.poll.interval.ms": "max.poll.interval.ms",
    "partition.assignment.strategy": "partition.assignment.strategy",
    "group.protocol": "group.protocol",
    "enable.auto.commit": "enable.auto.commit",
    "auto.commit.interval.ms": "auto.commit.interval.ms",
    "auto.offset.reset": "auto.offset.reset",
    "isolation.level": "isolation.level",
}


# The exactly-once chapter's settings: (client, Java name) -> librdkafka's name.
TRANSACTION_KEYS = {
    ("producer", "enable.idempotence"): "enable.idempotence",
    ("producer", "transaction.timeout.ms"): "transaction.timeout.ms",
    ("producer", "max.in.flight.requests.per.connection"): "max.in.flight.requests.per.connection",
    ("consumer", "isolation.level"): "isolation.level",
}


def librdkafka_defaults() -> dict[str, str]:
    """Every global and topic default of the librdkafka that confluent-kafka loaded (rd_kafka_conf_dump)."""
    import confluent_kafka
    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*")) or [Path("librdkafka.so.1")]
    lib = ctypes.CDLL(str(found[0]))
    size = ctypes.c_size_t()
    out: dict[str, str] = {}
    for new, dump, destroy in (("rd_kafka_conf_new", "rd_kafka_conf_dump", "rd_kafka_conf_destroy"),
                               ("rd_kafka_topic_conf_new", "rd_kafka_topic_conf_dump",
                                "rd_kafka_topic_conf_destroy")):
        getattr(lib, new).restype = ctypes.c_void_p
        getattr(lib, dump).restype = ctypes.POINTER(ctypes.c_char_p)
        getattr(lib, dump).argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        lib.rd_kafka_conf_dump_free.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]
        getattr(lib, destroy).argtypes = [ctypes.c_void_p]
        conf = getattr(lib, new)()
        arr = getattr(lib, dump)(conf, ctypes.byref(size))
        for i in range(0, size.value, 2):  # a global setting wins over a legacy topic one
            out.setdefault(arr[i].decode(), (arr[i + 1] or b"").decode())
        lib.rd_kafka_conf_dump_free(arr, size)
        getattr(lib, destroy)(conf)
    return out


def java_defaults(client: str = "producer") -> dict[str, str]:
    """Defaults of the pinned Java client ("producer" or "consumer"), from its config class's
    own documentation table."""
    from ..lab.jvm import java_path
    cls = {"producer": "org.apache.kafka.clients.producer.ProducerConfig",
           "consumer": "org.apache.kafka.clients.consumer.ConsumerConfig"}[client]
    # One JVM per client and Kafka version: the table is kept in the cache every lane shares.
    cache = topology.CACHE_DIR / f"java-{client}-defaults-{topology.kafka_version()}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    res = subprocess.run([java_path(), "-cp", f"{topology.LIBS_DIR}/*", cls],
                         capture_output=True, text=True, timeout=120, check=True)
    pattern = rf'id="{client}configs_([^"]+)".*?<th>Default:</th>\s*<td>(.*?)</td>'
    found = {m.group(1): html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()
             for m in re.finditer(pattern, res.stdout, re.S)}
    if found:
        cache.parent.mkdir(parents=True, exist_ok=True)
        part = cache.with_name(f"{cache.name}.{os.getpid()}")  # another lane may read it now
        part.write_text(json.dumps(found))
        os.replace(part, cache)
    return found


def librdkafka_default(name: str) -> str:
    """One librdkafka default, e.g. librdkafka_default("message.timeout.ms") -> "300000"."""
    return librdkafka_defaults()[name]


def producer_table() -> list[tuple[str, str, str, str]]:
    """Rows (Java name, Java default, librdkafka name, librdkafka default) for PRODUCER_KEYS."""
    java, rdk = java_defaults(), librdkafka_defaults()
    return [(j, java.get(j, "?"), r, rdk.get(r, "?")) for j, r in PRODUCER_KEYS.items()]


def consumer_table() -> list[tuple[str, str, str, str]]:
    """Rows (Java name, Java default, librdkafka name, librdkafka default) for CONSUMER_KEYS."""
    java, rdk = java_defaults("consumer"), librdkafka_defaults()
    return [(j, java.get(j, "?"), r, rdk.get(r, "?")) for j, r in CONSUMER_KEYS.items()]


def transaction_table() -> list[tuple[str, str, str, str]]:
    """Rows (Java name, Java default, librdkafka name, librdkafka default) for TRANSACTION_KEYS."""
    java = {c: java_defaults(c) for c in ("producer", "consumer")}
    rdk = librdkafka_defaults()
    return [(j, java[c].get(j, "?"), r, rdk.get(r, "?")) for (c, j), r in TRANSACTION_KEYS.items()]
