/*
 * ctl.c: vmm-ctl, a small client of vmm-lite's control socket for people
 * and scripts: sends one request, prints the one-line JSON answer, and
 * exits 0 when the answer says "ok":true, 1 when it says false, 2 when the
 * VMM could not be reached.
 *
 *   vmm-ctl SOCKET status
 *   vmm-ctl SOCKET migrate tcp:10.0.0.2:4444 [downtime_ms=300] [bandwidth=0] ...
 *   vmm-ctl SOCKET console 'uname -a'     (types the line and a newline)
 *   vmm-ctl SOCKET '{"cmd":"cancel"}'
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ANSWER_MAX (1 << 20)

static void usage(void)
{
	fputs("usage: vmm-ctl SOCKET COMMAND [ARG] [KEY=VALUE...]\n"
	      "       vmm-ctl SOCKET '{\"cmd\":...}'\n"
	      "commands: status, migrate ADDRESS, cancel, pause, resume, quit,\n"
	      "          resolve target-running|target-discarded,\n"
	      "          console TEXT (typed on the guest's console, newline added)\n"
	      "KEY=VALUE adds a member (numbers stay numbers), e.g. downtime_ms=100\n",
	      stderr);
}

/* Builds the request from the words after SOCKET. */
static struct json_object *build_request(int argc, char **argv)
{
	struct json_object *o;
	int i = 1;

	if (argv[0][0] == '{')
		return argc == 1 ? json_tokener_parse(argv[0]) : NULL;
	o = json_object_new_object();
	json_object_object_add(o, "cmd", json_object_new_string(argv[0]));
	if (argc > 1 && !strcmp(argv[0], "console")) {
		size_t n = strlen(argv[1]);
		char *line = malloc(n + 2);

		if (!line) {
			json_object_put(o);
			return NULL;
		}
		memcpy(line, argv[1], n);
		memcpy(line + n, "\n", 2);
		json_object_object_add(o, "data", json_object_new_string(line));
		free(line);
		i = 2;
	} else if (argc > 1 && !strchr(argv[1], '=')) {
		const char *key = !strcmp(argv[0], "resolve") ? "how" : "address";

		json_object_object_add(o, key, json_object_new_string(argv[1]));
		i = 2;
	}
	for (; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		char *end;
		long long v;

		if (!eq || eq == argv[i]) {
			json_object_put(o);
			return NULL;
		}
		*eq = '\0';
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (!errno && *end == '\0' && end != eq + 1)
			json_object_object_add(o, argv[i], json_object_new_int64(v));
		else
			json_object_object_add(o, argv[i], json_object_new_string(eq + 1));
	}
	return o;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *req, *answer, *ok;
	const char *text;
	char *buf;
	size_t len = 0;
	int fd, rc;

	if (argc < 3) {
		usage();
		return 2;
	}
	req = build_request(argc - 2, argv + 2);
	if (!req) {
		usage();
		return 2;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vmm-ctl: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "vmm-ctl: %s: %s (is vmm-lite running with --control?)\n",
			argv[1], strerror(errno));
		return 2;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (dprintf(fd, "%s\n", text) < 0) {
		fprintf(stderr, "vmm-ctl: send: %s\n", strerror(errno));
		return 2;
	}
	buf = malloc(ANSWER_MAX + 1);
	if (!buf)
		return 2;
	while (len < ANSWER_MAX) {
		ssize_t n = read(fd, buf + len, ANSWER_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	close(fd);
	buf[len] = '\0';
	answer = json_tokener_parse(buf);
	if (!answer) {
		fprintf(stderr, "vmm-ctl: no answer from %s\n", argv[1]);
		return 2;
	}
	fputs(buf, stdout);
	if (len && buf[len - 1] != '\n')
		putchar('\n');
	rc = json_object_object_get_ex(answer, "ok", &ok) && json_object_get_boolean(ok) ? 0 : 1;
	json_object_put(answer);
	json_object_put(req);
	free(buf);
	return rc;
}
