# gunicorn tunables shared by every role. Loaded with runpy: plain assignments only.
# Uncomment to change a default; any other setting here stops mdbx serve at start.
#
# mdbx serve sets the rest itself: the worker (gevent, with the fast path), preload off
# and no control socket, because the roles do not work without them; and bind, workers,
# worker_connections, keepalive, graceful_timeout and loglevel from conf/<role>.toml
# (HOST, PORT, WORKERS, WORKER_CONNECTIONS, IDLE_TIMEOUT, GRACEFUL_TIMEOUT, LOG_LEVEL).

# Where the access log (when the role's ACCESS_LOG is on) and the error log go: a file,
# or "-" for stdout and stderr.
# accesslog = "-"
# errorlog = "-"
# access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
# Seconds a worker may stay silent before gunicorn replaces it; gevent workers beat
# from their own greenlet, so this is not a request time limit.
# timeout = 30
