# <linux/securebits.h>: capabilities(7), "The securebits flags": each SECBIT_*
# is a mask, the *_LOCKED bit freezes its base flag until the next execve(2).
cdef extern from "<linux/securebits.h>" nogil:
    enum:
        SECBIT_NOROOT
        SECBIT_NOROOT_LOCKED
        SECBIT_NO_SETUID_FIXUP
        SECBIT_NO_SETUID_FIXUP_LOCKED
        SECBIT_KEEP_CAPS
        SECBIT_KEEP_CAPS_LOCKED
        SECBIT_NO_CAP_AMBIENT_RAISE
        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
