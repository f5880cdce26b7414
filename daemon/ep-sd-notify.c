/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ep-log.h"
#include "ep-sd-notify.h"

void
ep_sd_notify (const char *state)
{
	const char *path = g_getenv ("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	gsize len;
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	len = strlen (path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof (sa.sun_path)) {
		ep_log_warning (NULL, NULL, "NOTIFY_SOCKET '%s' is not a usable socket address", path);
		return;
	}
	memcpy (sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t) (G_STRUCT_OFFSET (struct sockaddr_un, sun_path) + len);

	fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0) {
		int saved = errno;
		ep_log_warning (NULL, NULL, "cannot notify the service manager: %s", g_strerror (saved));
	}
	close (fd);
}
