# <sys/mount.h>: mount(2), umount(2). MS_NOSYMFOLLOW needs Linux 5.10 and
# glibc 2.34.
cdef extern from "<sys/mount.h>" nogil:
    enum:
        MS_RDONLY
        MS_NOSUID
        MS_NODEV
        MS_NOEXEC
        MS_SYNCHRONOUS
        MS_REMOUNT
        MS_MANDLOCK
        MS_DIRSYNC
        MS_NOSYMFOLLOW
        MS_NOATIME
        MS_NODIRATIME
        MS_BIND
        MS_MOVE
        MS_REC
        MS_SILENT
        MS_UNBINDABLE
        MS_PRIVATE
        MS_SLAVE
        MS_SHARED
        MS_RELATIME
        MS_STRICTATIME
        MS_LAZYTIME
    enum:
        MNT_FORCE
        MNT_DETACH
        MNT_EXPIRE
        UMOUNT_NOFOLLOW
    int mount(const char *source, const char *target, const char *filesystemtype,
              unsigned long mountflags, const void *data)
    int umount(const char *target)
    int umount2(const char *target, int flags)
