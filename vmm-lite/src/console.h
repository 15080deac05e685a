/*
 * console.h: what the user types to the guest's serial console. Bytes
 * come from standard input (a terminal in raw mode, or a pipe) and from
 * the control socket's "console" command; they wait in a bounded backlog
 * until the UART's receive FIFO takes them, so a pasted line is not cut
 * to the FIFO's 64 bytes.
 *
 * On a terminal, Ctrl-A x quits the VMM and Ctrl-A Ctrl-A sends a
 * Ctrl-A, as in QEMU; every other key goes to the guest.
 */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define VMM_CONSOLE_BACKLOG (64u << 10)

struct vmm_console;

/* Offers bytes to the guest; returns how many it took (0: try later). */
typedef size_t (*vmm_console_sink_fn)(void *opaque, const uint8_t *buf, size_t len);
/* The user asked to quit (Ctrl-A x). */
typedef void (*vmm_console_quit_fn)(void *opaque);

/*
 * Creates the console on `loop`. With `read_stdin`, standard input feeds
 * it when it is a terminal (switched to raw mode until
 * vmm_console_stop) or a pipe; anything else (a file, /dev/null) is not
 * read. Returns 0 and sets *out, or a negative errno.
 */
int vmm_console_start(struct vmm_console **out, uv_loop_t *loop, int read_stdin,
		      vmm_console_sink_fn sink, vmm_console_quit_fn quit, void *opaque);
/*
 * Queues bytes for the guest. Returns 0, or -ENOBUFS (nothing queued)
 * when they would overflow the backlog.
 */
int vmm_console_write(struct vmm_console *c, const uint8_t *buf, size_t len);
/* Restores the terminal, closes the handles; the console frees itself
 * once the loop has closed them. NULL is a no-op. */
void vmm_console_stop(struct vmm_console *c);

#endif
