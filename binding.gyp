{
  "targets": [
    {
      "target_name": "vipkeeper_net",
      "sources": ["native/vipkeeper_net.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
