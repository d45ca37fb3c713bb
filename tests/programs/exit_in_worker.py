from emilua import spawn, system, time

if _CONTEXT == "main":
    from emilua import spawn_vm

    ch = spawn_vm(".")
    # The worker never receives: the send waits (a rendezvous) until the
    # worker's VM has ended and its inbox closed.
    try:
        ch.send("hi")
        print("send succeeded?!")
    except Exception as e:
        print("main: send failed:", type(e).__name__)
    print("main continues")
    system.exit(3)
else:

    def bg():
        try:
            time.sleep(10)
        finally:
            print("worker bg unwound")

    spawn(bg).detach()
    time.sleep(0.01)
    print("worker exiting")
    system.exit(5)
    print("NOT REACHED")
