"""The transport a search config asks for: RabbitMQ when a broker is named, else local processes."""

import os

from ..arch_search_config import SearchConfigError
from .amqp import URL_ENV, resolve_url


def backend_of(cfg):
    backend = cfg.TRANSPORT.BACKEND
    if backend == "auto":
        backend = "rabbitmq" if (cfg.TRANSPORT.AMQP_URL or os.environ.get(URL_ENV)) else "local"
    return backend


def make_transport(cfg, experiment, output_dir):
    t = cfg.TRANSPORT
    if backend_of(cfg) == "local":
        from .local import LocalTransport

        try:
            return LocalTransport(
                experiment,
                output_dir,
                list(cfg.LOCAL.SERVER_ARGS),
                num_workers=cfg.LOCAL.NUM_WORKERS,
                gpus=list(cfg.LOCAL.GPUS),
            )
        except ValueError as e:
            raise SearchConfigError(str(e)) from None
    from .amqp import Backoff
    from .rabbitmq_master import RabbitMQTransport

    tls = dict(tls_ca_file=t.TLS_CA_FILE, tls_cert_file=t.TLS_CERT_FILE, tls_key_file=t.TLS_KEY_FILE)
    return RabbitMQTransport(
        experiment,
        resolve_url(t.AMQP_URL),
        heartbeat_s=t.HEARTBEAT_S,
        backoff=Backoff(t.RECONNECT_INITIAL_S, t.RECONNECT_MAX_S, t.RECONNECT_GIVE_UP_S),
        tls=tls,
    )
