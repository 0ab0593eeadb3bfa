# The Debian packages, one per install component (cmake/install.cmake):
#   libtroupe0     libtroupe.so.0                                        (component runtime)
#   libtroupe-dev  headers, libtroupe.a, libtroupe.so, troupe.pc, CMake files        (dev)
#   troupe-tools   troupe-console, troupe-chat, troupe-pubsub, troupe-echo, man pages (tools)
# Made with `cpack -G DEB` (or `cmake --build DIR --target package`) in a build folder;
# configure it with -DCMAKE_INSTALL_PREFIX=/usr for Debian's multiarch library directory
# (lib/x86_64-linux-gnu). The programs link libtroupe.a, as the tests run them, so
# troupe-tools does not need libtroupe0.

set(CPACK_PACKAGE_NAME troupe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(TROUPE_PACKAGE_CONTACT "troupe maintainers <maintainers@users.noreply.r-seed-01536985.example>"
    CACHE STRING "The Maintainer of the .deb packages")
set(CPACK_PACKAGE_CONTACT "${TROUPE_PACKAGE_CONTACT}")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)

get_property(programs GLOBAL PROPERTY TROUPE_INSTALLED_PROGRAMS)
set(CPACK_COMPONENTS_ALL runtime dev)
if(programs)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()

set(TROUPE_DEB_RUNTIME libtroupe${TROUPE_SOVERSION})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${TROUPE_DEB_RUNTIME})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# Each description's first line is the package's synopsis (CPACK_PACKAGE_DESCRIPTION_SUMMARY
# stays unset: CPack would put it in front of every one).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "actor-model message passing for C, shared library
troupe runs lightweight actors with lock-free mailboxes on a work-stealing
thread pool, with msgpack messages, TCP and timers on a libuv I/O thread,
links, monitors and supervisors as in Erlang/OTP, and clusters of nodes
over TCP.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtroupe-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# What building against troupe needs: the headers include msgpack.h, and linking libtroupe.a
# (pkg-config --static, troupe::troupe_static) needs the -dev packages of what it links.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "${TROUPE_DEB_RUNTIME} (= ${PROJECT_VERSION}), libmsgpack-dev, libuv1-dev, libsodium-dev, libjansson-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "pkg-config, cmake")
set(CPACK_DEBIAN_DEV_DESCRIPTION "actor-model message passing for C, development files
The headers, the static library, pkg-config's troupe.pc and the files of
CMake's find_package(troupe), with the targets troupe::troupe (shared) and
troupe::troupe_static.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME troupe-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION net)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "troupe's example servers and debug console client
troupe-chat, an IRC and plain-text chat server; troupe-pubsub, a pub/sub
server speaking the Redis protocol; troupe-echo, a line echo server; and
troupe-console, the client of a troupe node's debug console. The servers
can run as a cluster of nodes.")

# The libraries the packages' programs need: found by dpkg-shlibdeps (dpkg-dev) when it and
# file(1), which CPack uses to find the ELF files, are there; else Debian 12's names.
find_program(TROUPE_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(TROUPE_FILE file)
if(TROUPE_DPKG_SHLIBDEPS AND TROUPE_FILE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # A shlibs file for libtroupe0, so that what links libtroupe.so.0 depends on it.
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
else()
  set(libs "libc6 (>= 2.34), libmsgpackc2, libuv1 (>= 1.44), libsodium23, libjansson4")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${libs}")
  set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${libs}")
  if("troupe-console" IN_LIST programs)
    string(APPEND CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS ", libedit2")
  endif()
endif()

include(CPack)
