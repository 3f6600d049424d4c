// vipkeeper's socket syscalls for Node (N-API, context-aware so it also loads in worker threads).
// Deliberately generic and thin: socket, bind, setsockopt, sendmsg and a libuv-polled recvmsg loop
// that hands each datagram (data, source address, ancillary data) to JavaScript. Every protocol
// (VRRP, ARP, ICMPv6, rtnetlink, generic netlink) is built and parsed in TypeScript.
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

typedef struct Reader {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref on_message;
  napi_ref on_error;
  size_t buf_size;
  size_t ctl_size;
  char *buf;
  char *ctl;
  int stopped;
  /* Only the datagram goes to onMessage: no sender address, ancillary data or flags. */
  int data_only;
  struct Reader *next;
} Reader;

typedef struct {
  Reader *readers;
} AddonData;

#define CHECK(env, call)                                                                            \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error((env), NULL, "vipkeeper_net: N-API call failed: " #call);                 \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static napi_value errno_error(napi_env env, const char *call, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", call, strerror(err));
  const char *name = strerrorname_np(err);
  napi_value message, code, error, num;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", message);
  return error;
}

static napi_value throw_errno(napi_env env, const char *call, int err) {
  napi_throw(env, errno_error(env, call, err));
  return NULL;
}

static int arg_int(napi_env env, napi_value v, int *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (!is_buf) return 0;
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

// socket(domain, type, protocol): non-blocking, close-on-exec.
static napi_value js_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int domain, type, protocol;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || !arg_int(env, argv[0], &domain) || !arg_int(env, argv[1], &type) || !arg_int(env, argv[2], &protocol)) {
    napi_throw_type_error(env, NULL, "socket(domain, type, protocol) takes three integers");
    return NULL;
  }
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return make_int(env, fd);
}

static Reader **find_reader(AddonData *data, int fd) {
  for (Reader **r = &data->readers; *r; r = &(*r)->next)
    if ((*r)->fd == fd) return r;
  return NULL;
}

static void free_reader(uv_handle_t *handle) {
  Reader *r = (Reader *)handle->data;
  free(r->buf);
  free(r->ctl);
  free(r);
}

// Unlinks and stops a reader; its memory goes when libuv has closed the handle.
static void stop_reader(AddonData *data, int fd) {
  Reader **link = find_reader(data, fd);
  if (!link) return;
  Reader *r = *link;
  *link = r->next;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  napi_delete_reference(r->env, r->on_message);
  if (r->on_error) napi_delete_reference(r->env, r->on_error);
  uv_close((uv_handle_t *)&r->poll, free_reader);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  AddonData *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&data));
  if (argc < 1 || !arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  stop_reader(data, fd);
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  void *addr;
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &addr, &len)) {
    napi_throw_type_error(env, NULL, "bind(fd, sockaddr: Buffer)");
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)addr, (socklen_t)len) < 0) return throw_errno(env, "bind", errno);
  return NULL;
}

static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int fd, level, name;
  void *value;
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &level) || !arg_int(env, argv[2], &name) ||
      !arg_buffer(env, argv[3], &value, &len)) {
    napi_throw_type_error(env, NULL, "setsockopt(fd, level, name, value: Buffer)");
    return NULL;
  }
  if (setsockopt(fd, level, name, value, (socklen_t)len) < 0) return throw_errno(env, "setsockopt", errno);
  return NULL;
}

static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "getsockname(fd)");
    return NULL;
  }
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return throw_errno(env, "getsockname", errno);
  CHECK(env, napi_create_buffer_copy(env, len, &ss, NULL, &out));
  return out;
}

// sendmsg(fd, data, to | null, control | null): bytes sent.
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int fd;
  void *data, *to = NULL, *control = NULL;
  size_t len, to_len = 0, control_len = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &len) ||
      (!is_nullish(env, argv[2]) && !arg_buffer(env, argv[2], &to, &to_len)) ||
      (!is_nullish(env, argv[3]) && !arg_buffer(env, argv[3], &control, &control_len))) {
    napi_throw_type_error(env, NULL, "sendmsg(fd, data: Buffer, to: Buffer | null, control: Buffer | null)");
    return NULL;
  }
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_name = to,
                       .msg_namelen = (socklen_t)to_len,
                       .msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control,
                       .msg_controllen = control_len};
  ssize_t n = sendmsg(fd, &msg, 0);
  if (n < 0) return throw_errno(env, "sendmsg", errno);
  return make_int(env, n);
}

static void report(Reader *r, napi_ref ref, size_t argc, napi_value *argv) {
  napi_value fn, global, result;
  if (napi_get_reference_value(r->env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(r->env, &global);
  if (napi_make_callback(r->env, NULL, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(r->env, &exc);
    napi_fatal_exception(r->env, exc);
  }
}

// Readable: drain the socket, one JavaScript call per datagram.
static void on_readable(uv_poll_t *handle, int status, int events) {
  Reader *r = (Reader *)handle->data;
  (void)events;
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  if (status < 0) {
    if (r->on_error) {
      napi_value err = errno_error(r->env, "poll", -status);
      report(r, r->on_error, 1, &err);
    }
  } else {
    for (int i = 0; i < 1024 && !r->stopped; i++) {
      struct sockaddr_storage from;
      struct iovec iov = {.iov_base = r->buf, .iov_len = r->buf_size};
      struct msghdr msg = {.msg_name = &from,
                           .msg_namelen = sizeof from,
                           .msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = r->ctl,
                           .msg_controllen = r->ctl_size};
      ssize_t n = recvmsg(r->fd, &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && r->on_error) {
          napi_value err = errno_error(r->env, "recvmsg", errno);
          report(r, r->on_error, 1, &err);
        }
        if (errno != EINTR) break;
        continue;
      }
      napi_handle_scope inner;
      napi_open_handle_scope(r->env, &inner);
      napi_value argv[4];
      size_t got = (size_t)n < r->buf_size ? (size_t)n : r->buf_size;
      napi_create_buffer_copy(r->env, got, r->buf, NULL, &argv[0]);
      if (r->data_only) {
        report(r, r->on_message, 1, argv);
        napi_close_handle_scope(r->env, inner);
        continue;
      }
      napi_create_buffer_copy(r->env, msg.msg_namelen, &from, NULL, &argv[1]);
      napi_create_buffer_copy(r->env, msg.msg_controllen, r->ctl, NULL, &argv[2]);
      napi_create_int32(r->env, msg.msg_flags, &argv[3]);
      report(r, r->on_message, 4, argv);
      napi_close_handle_scope(r->env, inner);
    }
  }
  napi_close_handle_scope(r->env, scope);
}

// startReading(fd, onMessage, bufferSize, controlSize, onError?, dataOnly?)
static napi_value js_start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int fd, buf_size, ctl_size;
  AddonData *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&data));
  napi_valuetype t0 = napi_undefined, t4 = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t0);
  if (argc >= 5) napi_typeof(env, argv[4], &t4);
  if (argc < 4 || !arg_int(env, argv[0], &fd) || t0 != napi_function || !arg_int(env, argv[2], &buf_size) ||
      !arg_int(env, argv[3], &ctl_size) || buf_size <= 0 || ctl_size < 0 ||
      (argc >= 5 && t4 != napi_function && t4 != napi_undefined)) {
    napi_throw_type_error(env, NULL, "startReading(fd, onMessage, bufferSize, controlSize, onError?, dataOnly?)");
    return NULL;
  }
  if (find_reader(data, fd)) {
    napi_throw_error(env, "EBUSY", "startReading: already reading this fd");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  Reader *r = calloc(1, sizeof *r);
  r->buf = malloc((size_t)buf_size);
  r->ctl = malloc(ctl_size > 0 ? (size_t)ctl_size : 1);
  if (!r || !r->buf || !r->ctl) {
    napi_throw_error(env, "ENOMEM", "startReading: out of memory");
    return NULL;
  }
  r->fd = fd;
  r->env = env;
  r->buf_size = (size_t)buf_size;
  r->ctl_size = (size_t)ctl_size;
  bool data_only = false;
  if (argc >= 6 && !is_nullish(env, argv[5])) napi_get_value_bool(env, argv[5], &data_only);
  r->data_only = data_only;
  napi_create_reference(env, argv[1], 1, &r->on_message);
  if (argc >= 5 && t4 == napi_function) napi_create_reference(env, argv[4], 1, &r->on_error);
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    napi_delete_reference(env, r->on_message);
    if (r->on_error) napi_delete_reference(env, r->on_error);
    free(r->buf);
    free(r->ctl);
    free(r);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  r->poll.data = r;
  r->next = data->readers;
  data->readers = r;
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    stop_reader(data, fd);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  return NULL;
}

static napi_value js_stop_reading(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  AddonData *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&data));
  if (argc < 1 || !arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "stopReading(fd)");
    return NULL;
  }
  stop_reader(data, fd);
  return NULL;
}

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IF_NAMESIZE + 1];
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "ifNameToIndex(name: string)");
    return NULL;
  }
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, "if_nametoindex", errno);
  return make_int(env, idx);
}

// A worker's environment going away: stop its polls before its loop does.
static void cleanup(void *arg) {
  AddonData *data = arg;
  while (data->readers) stop_reader(data, data->readers->fd);
}

static void free_data(napi_env env, void *arg, void *hint) {
  (void)env;
  (void)hint;
  free(arg);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  AddonData *data = calloc(1, sizeof *data);
  napi_set_instance_data(env, data, free_data, NULL);
  napi_add_env_cleanup_hook(env, cleanup, data);
  napi_property_descriptor props[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, data},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, data},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, data},
      {"setsockopt", NULL, js_setsockopt, NULL, NULL, NULL, napi_enumerable, data},
      {"getsockname", NULL, js_getsockname, NULL, NULL, NULL, napi_enumerable, data},
      {"sendmsg", NULL, js_sendmsg, NULL, NULL, NULL, napi_enumerable, data},
      {"startReading", NULL, js_start_reading, NULL, NULL, NULL, napi_enumerable, data},
      {"stopReading", NULL, js_stop_reading, NULL, NULL, NULL, napi_enumerable, data},
      {"ifNameToIndex", NULL, js_if_name_to_index, NULL, NULL, NULL, napi_enumerable, data},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
