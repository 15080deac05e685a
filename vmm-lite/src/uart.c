/*
 * uart.c: a 16550A UART as Linux's 8250 driver and a boot sector expect:
 * divisor latch, FIFO control, interrupt identification with THRE and
 * received-data interrupts, loopback (the driver's probe uses it), and
 * scratch. Transmission is immediate, so the transmitter is always empty.
 */
#include "uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_FIFO 64

#define IER_RDA 0x01
#define IER_THRE 0x02
#define IER_MASK 0x0f

#define IIR_NONE 0x01
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct vmm_uart {
	pthread_mutex_t lock;
	int out_fd;
	vmm_uart_irq_fn irq;
	void *irq_opaque;
	int irq_level;

	uint8_t dll, dlm, ier, lcr, mcr, scr, fcr;
	uint8_t thr_pending; /* THRE interrupt owed since the last write */
	uint8_t rx[RX_FIFO];
	uint32_t rx_head, rx_count;
};

static uint8_t iir_of(const struct vmm_uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RDA) && u->rx_count)
		return IIR_RDA | fifo;
	if ((u->ier & IER_THRE) && u->thr_pending)
		return IIR_THRE | fifo;
	return IIR_NONE | fifo;
}

/* Called with the lock held; the PC routes the line only when OUT2 is set. */
static void update_irq(struct vmm_uart *u)
{
	int level = !(iir_of(u) & IIR_NONE) && (u->mcr & MCR_OUT2);

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->irq)
			u->irq(u->irq_opaque, level);
	}
}

static void rx_push(struct vmm_uart *u, uint8_t c)
{
	if (u->rx_count == RX_FIFO)
		return;
	u->rx[(u->rx_head + u->rx_count) % RX_FIFO] = c;
	u->rx_count++;
}

static void transmit(struct vmm_uart *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		rx_push(u, c);
	} else if (u->out_fd >= 0) {
		/* A console that went away must not stop the guest. */
		while (write(u->out_fd, &c, 1) < 0 && errno == EINTR)
			;
	}
	u->thr_pending = 1;
}

static uint8_t msr_of(const struct vmm_uart *u)
{
	uint8_t m = 0;

	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (u->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (u->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (u->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void write_reg(struct vmm_uart *u, uint16_t off, uint8_t v)
{
	int dlab = u->lcr & LCR_DLAB;

	switch (off) {
	case 0:
		if (dlab)
			u->dll = v;
		else
			transmit(u, v);
		break;
	case 1:
		if (dlab) {
			u->dlm = v;
		} else {
			/* Enabling THRE with an empty transmitter raises it. */
			if (!(u->ier & IER_THRE) && (v & IER_THRE))
				u->thr_pending = 1;
			u->ier = v & IER_MASK;
		}
		break;
	case 2:
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		u->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & MCR_MASK;
		break;
	case 7:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t read_reg(struct vmm_uart *u, uint16_t off)
{
	int dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case 0:
		if (dlab)
			return u->dll;
		if (!u->rx_count)
			return 0;
		v = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % RX_FIFO;
		u->rx_count--;
		return v;
	case 1:
		return dlab ? u->dlm : u->ier;
	case 2:
		v = iir_of(u);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & 0x0f) == IIR_THRE)
			u->thr_pending = 0;
		return v;
	case 3:
		return u->lcr;
	case 4:
		return u->mcr;
	case 5:
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case 6:
		return msr_of(u);
	default:
		return u->scr;
	}
}

int vmm_uart_new(struct vmm_uart **out, int out_fd, vmm_uart_irq_fn irq,
		 void *irq_opaque)
{
	struct vmm_uart *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	u->out_fd = out_fd;
	u->irq = irq;
	u->irq_opaque = irq_opaque;
	u->dll = 12; /* 9600 baud, the 8250's reset value in practice */
	u->lcr = 0x03;
	*out = u;
	return 0;
}

void vmm_uart_io(struct vmm_uart *u, uint16_t offset, int is_write,
		 uint8_t *val)
{
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		write_reg(u, offset, *val);
		if (offset == 0 && !(u->lcr & LCR_DLAB) && (u->ier & IER_THRE)) {
			/* A new THRE edge: drop the line first so an
			 * edge-triggered PIC sees the next interrupt. */
			u->thr_pending = 0;
			update_irq(u);
			u->thr_pending = 1;
		}
	} else {
		*val = read_reg(u, offset);
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t vmm_uart_input(struct vmm_uart *u, const uint8_t *buf, size_t len)
{
	size_t taken;

	pthread_mutex_lock(&u->lock);
	for (taken = 0; taken < len && u->rx_count < RX_FIFO; taken++)
		rx_push(u, buf[taken]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return taken;
}

/*
 * Blob layout, version 1 (every field one byte unless said):
 *   "U16550\0\1" magic and version (8), dll, dlm, ier, lcr, mcr, scr, fcr,
 *   thr_pending, rx_count, then rx_count received bytes in order.
 */
static const uint8_t uart_magic[8] = { 'U', '1', '6', '5', '5', '0', 0, 1 };
#define UART_FIXED 17

int vmm_uart_save(struct vmm_uart *u, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t len;

	pthread_mutex_lock(&u->lock);
	len = UART_FIXED + u->rx_count;
	if (cap < len) {
		pthread_mutex_unlock(&u->lock);
		return -ENOSPC;
	}
	memcpy(p, uart_magic, sizeof(uart_magic));
	p[8] = u->dll;
	p[9] = u->dlm;
	p[10] = u->ier;
	p[11] = u->lcr;
	p[12] = u->mcr;
	p[13] = u->scr;
	p[14] = u->fcr;
	p[15] = u->thr_pending;
	p[16] = (uint8_t)u->rx_count;
	for (uint32_t i = 0; i < u->rx_count; i++)
		p[UART_FIXED + i] = u->rx[(u->rx_head + i) % RX_FIFO];
	pthread_mutex_unlock(&u->lock);
	return (int)len;
}

int vmm_uart_load(struct vmm_uart *u, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len < UART_FIXED || memcmp(p, uart_magic, sizeof(uart_magic)))
		return -EINVAL;
	if (p[16] > RX_FIFO || len != UART_FIXED + (size_t)p[16])
		return -EINVAL;
	if (p[15] > 1 || (p[10] & ~IER_MASK) || (p[12] & ~MCR_MASK))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->dll = p[8];
	u->dlm = p[9];
	u->ier = p[10];
	u->lcr = p[11];
	u->mcr = p[12];
	u->scr = p[13];
	u->fcr = p[14] & (FCR_ENABLE | 0xc0);
	u->thr_pending = p[15];
	u->rx_head = 0;
	u->rx_count = p[16];
	memcpy(u->rx, p + UART_FIXED, u->rx_count);
	/* The target's line starts low; raise it if the state says so. */
	u->irq_level = 0;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

void vmm_uart_free(struct vmm_uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}
