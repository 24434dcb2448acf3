# Finds every external library through pkg-config. A missing one stops the
# configure step with the Debian package that provides it, so a new machine is
# one apt-get away from a build (scripts/bootstrap installs them all).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "vecmig: pkg-config not found: apt-get install pkg-config")
endif()

# vm_require(<target-suffix> <pkg-config module> <Debian package> <why>)
function(vm_require name module debpkg why)
  pkg_check_modules(VM_${name} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT VM_${name}_FOUND)
    message(FATAL_ERROR
      "vecmig: missing dependency '${module}' (${why}). "
      "Install the Debian package: apt-get install ${debpkg}")
  endif()
  add_library(vm::${name} ALIAS PkgConfig::VM_${name})
  message(STATUS "vecmig: ${module} ${VM_${name}_VERSION}")
endfunction()

vm_require(rdkafka rdkafka        librdkafka-dev       "Kafka task queue")
vm_require(curl    libcurl        libcurl4-openssl-dev "HTTP: Milvus REST v2 and REST sources")
vm_require(jansson jansson        libjansson-dev       "JSON")
vm_require(hiredis hiredis        libhiredis-dev       "Redis state store")
vm_require(pq      libpq          libpq-dev            "PostgreSQL + pgvector source")
vm_require(yaml    yaml-0.1       libyaml-dev          "YAML job files")
vm_require(sqlite  sqlite3        libsqlite3-dev       "embedded state store")
vm_require(microhttpd libmicrohttpd libmicrohttpd-dev "HTTP endpoints: /metrics, coordinator API")
if(VECMIG_TESTS)
  vm_require(cmocka cmocka        libcmocka-dev        "unit and integration tests")
endif()

find_package(Threads REQUIRED)
