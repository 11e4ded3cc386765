// peerCredentials(fd): who connected to a Unix socket, as the kernel recorded it at connect(): SO_PEERCRED
// (pid, uid, gid) and SO_PEERGROUPS (the supplementary groups). Node has no API for either, and reading
// them any other way (ss, /proc scans) costs a fork or a walk of every process per connection; this is two
// system calls. Node-API only, so one build serves every Node version from 20 on.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CHECK(call)                                                                                        \
  do {                                                                                                     \
    if ((call) != napi_ok) return NULL;                                                                    \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value set_uint(napi_env env, napi_value object, const char *name, uint32_t value) {
  napi_value v;
  CHECK(napi_create_uint32(env, value, &v));
  CHECK(napi_set_named_property(env, object, name, v));
  return object;
}

static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCredentials(fd): fd must be a non-negative integer");
    return NULL;
  }

  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "SO_PEERCRED", errno);

  // The kernel says how much room the list needs when it is too small (ERANGE).
  socklen_t glen = 64 * sizeof(gid_t);
  gid_t *groups = malloc(glen);
  if (groups == NULL) return throw_errno(env, "SO_PEERGROUPS", ENOMEM);
  int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen);
  if (rc != 0 && errno == ERANGE) {
    gid_t *bigger = realloc(groups, glen);
    if (bigger == NULL) {
      free(groups);
      return throw_errno(env, "SO_PEERGROUPS", ENOMEM);
    }
    groups = bigger;
    rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen);
  }
  if (rc != 0) {
    int err = errno;
    free(groups);
    return throw_errno(env, "SO_PEERGROUPS", err);
  }

  napi_value result, list, v;
  if (napi_create_object(env, &result) != napi_ok || napi_create_array(env, &list) != napi_ok) {
    free(groups);
    return NULL;
  }
  size_t count = glen / sizeof(gid_t);
  for (size_t i = 0; i < count; i++) {
    if (napi_create_uint32(env, groups[i], &v) != napi_ok || napi_set_element(env, list, i, v) != napi_ok) {
      free(groups);
      return NULL;
    }
  }
  free(groups);
  CHECK(napi_create_int32(env, cred.pid, &v));
  CHECK(napi_set_named_property(env, result, "pid", v));
  if (set_uint(env, result, "uid", cred.uid) == NULL) return NULL;
  if (set_uint(env, result, "gid", cred.gid) == NULL) return NULL;
  CHECK(napi_set_named_property(env, result, "groups", list));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "peerCredentials", fn));
  return exports;
}
