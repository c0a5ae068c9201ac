/* iogate-keygen.c — make a ZeroMQ CURVE keypair for the IPC endpoint
 * (PROTOCOL.md §1, README "Security and limits").
 *
 *   iogate-keygen SECRET_FILE
 *
 * writes the Z85 secret key to SECRET_FILE (mode 0600, must not exist) for
 * `iogate --ipc-curve-secret SECRET_FILE`, and prints the public key that
 * workers on other machines need in IOGATE_CURVE_SERVERKEY. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: iogate-keygen SECRET_FILE\n");
        return 2;
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "iogate-keygen: libzmq was built without CURVE\n");
        return 1;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "iogate-keygen: %s\n", zmq_strerror(errno));
        return 1;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, sec, 40) != 40 || write(fd, "\n", 1) != 1 || close(fd) != 0) {
        fprintf(stderr, "iogate-keygen: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    memset(sec, 0, sizeof sec);
    printf("%s\n", pub);
    return 0;
}
