from emilua import spawn, spawn_vm, time

if _CONTEXT == "main":
    ch = spawn_vm(".")
    time.sleep(0.05)
    try:
        ch.send("hi")
    except Exception as e:
        print("main: send failed:", type(e).__name__)
    print("main continues")
else:

    def bg():
        try:
            time.sleep(10)
        finally:
            print("worker bg unwound")

    spawn(bg).detach()
    time.sleep(0.01)
    raise ValueError("worker failed")
