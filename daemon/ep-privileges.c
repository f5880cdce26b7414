/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "ep-error.h"
#include "ep-privileges.h"

/**
 * ep_privileges_resolve:
 * @user: (nullable): `[privileges] user`
 * @group: (nullable): `[privileges] group`, else the user's primary group
 *
 * Works out whom the daemon runs as after binding its listeners.  As root,
 * with no user configured, the system user `epistle` is used when it
 * exists; otherwise the daemon refuses to run as root.
 */
gboolean
ep_privileges_resolve (const char *user, const char *group, EpPrivileges *out, GError **error)
{
	struct passwd *pw;

	memset (out, 0, sizeof (*out));
	if (geteuid () != 0) {
		out->uid = geteuid ();
		out->gid = getegid ();
		out->need_drop = FALSE;
		if (user != NULL) {
			pw = getpwnam (user);
			if (pw == NULL || pw->pw_uid != geteuid ()) {
				g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
					     _("[privileges] user is '%s' but the daemon was started as uid %u "
					       "and cannot switch users; start it as root or as '%s'"),
					     user, (guint) geteuid (), user);
				return FALSE;
			}
		}
		pw = getpwuid (geteuid ());
		out->user = g_strdup (pw != NULL ? pw->pw_name : "?");
		return TRUE;
	}

	if (user == NULL) {
		pw = getpwnam (EP_DEFAULT_SERVICE_USER);
		if (pw == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("refusing to run as root: set [privileges] user, or create the system user "
				       "'%s' with: useradd --system --user-group --home-dir /var/lib/epistle "
				       "--shell /usr/sbin/nologin %s"),
				     EP_DEFAULT_SERVICE_USER, EP_DEFAULT_SERVICE_USER);
			return FALSE;
		}
	} else {
		pw = getpwnam (user);
		if (pw == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("[privileges] user '%s' does not exist; create it with: useradd --system "
				       "--user-group --shell /usr/sbin/nologin %s"),
				     user, user);
			return FALSE;
		}
	}
	if (pw->pw_uid == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
			     _("[privileges] user '%s' is root; choose an unprivileged user"), pw->pw_name);
		return FALSE;
	}
	out->user = g_strdup (pw->pw_name);
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	if (group != NULL) {
		struct group *gr = getgrnam (group);
		if (gr == NULL) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG, _("[privileges] group '%s' does not exist"),
				     group);
			return FALSE;
		}
		if (gr->gr_gid == 0) {
			g_set_error (error, EP_ERROR, EP_ERROR_CONFIG,
				     _("[privileges] group '%s' is root's group; choose an unprivileged group"),
				     group);
			return FALSE;
		}
		out->gid = gr->gr_gid;
	}
	out->need_drop = TRUE;
	return TRUE;
}

/**
 * ep_privileges_drop:
 *
 * Switches to the resolved user and group for good and checks that the
 * switch cannot be undone.
 */
gboolean
ep_privileges_drop (const EpPrivileges *priv, GError **error)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (!priv->need_drop)
		return TRUE;
	if (setgroups (1, &priv->gid) != 0 || setresgid (priv->gid, priv->gid, priv->gid) != 0 ||
	    setresuid (priv->uid, priv->uid, priv->uid) != 0) {
		int saved = errno;
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("cannot switch to user '%s': %s"), priv->user,
			     g_strerror (saved));
		return FALSE;
	}
	if (getresuid (&ruid, &euid, &suid) != 0 || getresgid (&rgid, &egid, &sgid) != 0 || ruid != priv->uid ||
	    euid != priv->uid || suid != priv->uid || rgid != priv->gid || egid != priv->gid ||
	    sgid != priv->gid) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, _("the switch to user '%s' did not take effect"),
			     priv->user);
		return FALSE;
	}
	/* root must be out of reach now */
	if (setuid (0) == 0 || seteuid (0) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM,
			     _("after switching to user '%s' the daemon could become root again; refusing to "
			       "run"),
			     priv->user);
		return FALSE;
	}
	return TRUE;
}

void
ep_privileges_clear (EpPrivileges *priv)
{
	g_clear_pointer (&priv->user, g_free);
}
