# gunicorn settings shared by every role (mdbx serve adds bind, workers and timeouts
# from conf/<role>.toml). Loaded with runpy: plain assignments only.

worker_class = "app.gunicorn_worker.FastGeventWorker"
# The app is built in each worker after gevent has patched it; preloading would create
# sockets and locks before the patch.
preload_app = False
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
# Several roles run side by side; one shared control socket path would collide.
control_socket_disable = True
# Seconds a worker may stay silent before gunicorn replaces it; gevent workers beat
# from their own greenlet, so this is not a request time limit.
timeout = 30
