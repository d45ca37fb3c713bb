/* HTTP hello server in plain C: epoll, one thread, keep-alive. The floor for
 * server CPU per request. It answers every header section ("\r\n\r\n") in a
 * read with a fixed response and ignores request bodies, which the benchmark
 * (GET requests from wrk) does not send.
 *
 * Accepted sockets stay blocking: reads follow EPOLLIN, a write may wait.
 *
 * usage: http_epoll PORT BODY_SIZE */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int port = atoi(argv[1]);
    size_t size = (size_t)atol(argv[2]);
    const char *hello = "Hello World";
    size_t blen = size ? size : strlen(hello);
    char head[128];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n\r\n",
                        blen);
    size_t rlen = (size_t)hlen + blen;
    char *resp = malloc(rlen * 64);
    memcpy(resp, head, (size_t)hlen);
    if (size) memset(resp + hlen, 'x', blen); else memcpy(resp + hlen, hello, blen);
    for (int i = 1; i < 64; i++) memcpy(resp + rlen * (size_t)i, resp, rlen);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, 0)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) { close(fd); continue; }
            int reqs = 0;
            for (ssize_t j = 3; j < got; j++)
                if (buf[j] == '\n' && buf[j - 1] == '\r' && buf[j - 2] == '\n' && buf[j - 3] == '\r') reqs++;
            while (reqs > 0) {
                int k = reqs > 64 ? 64 : reqs;
                size_t len = rlen * (size_t)k, off = 0;
                while (off < len) {  /* connections are blocking: a write waits for room */
                    ssize_t w = write(fd, resp + off, len - off);
                    if (w <= 0) break;
                    off += (size_t)w;
                }
                reqs -= k;
            }
        }
    }
}
