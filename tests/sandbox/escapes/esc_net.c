/* Reach the host's loopback listener, and open raw sockets. */
#include "esc.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(esc_arg_int(argc, argv, 2))};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int s;

    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    s = socket(AF_INET, SOCK_STREAM, 0);
    MUST_FAIL(connect(s, (struct sockaddr *)&sin, sizeof(sin)), "connect 127.0.0.1 listener");
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "tel-escape-%s", argc > 1 ? argv[1] : "0");
    MUST_FAIL(connect(s, (struct sockaddr *)&sun, sizeof(sun.sun_family) + 1 + strlen(sun.sun_path + 1)),
              "connect abstract unix socket of the driver");
    MUST_FAIL(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), "raw ICMP socket");
    MUST_FAIL(socket(AF_PACKET, SOCK_RAW, 0), "packet socket");
    MUST_FAIL(socket(AF_INET, SOCK_DGRAM, 0) >= 0 ? sendto(socket(AF_INET, SOCK_DGRAM, 0), "x", 1, 0,
              (struct sockaddr *)&sin, sizeof(sin)) : -1, "udp to 127.0.0.1");
    BLOCKED("no network path to the host");
}
