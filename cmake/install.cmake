# What `cmake --install` puts where (GNUInstallDirs), in three components, which are also the
# three .deb packages of cmake/package.cmake:
#   runtime  libtroupe.so.0 and libtroupe.so.0.N.M                       (libtroupe0)
#   dev      headers, libtroupe.so, libtroupe.a, troupe.pc, troupeConfig.cmake and
#            troupeConfigVersion.cmake, troupeTargets*.cmake               (libtroupe-dev)
#   tools    troupe-console, the example servers, their man pages        (troupe-tools)
# Consumers: pkg-config troupe (--static for libtroupe.a), or find_package(troupe) and
# troupe::troupe (shared) / troupe::troupe_static.

set(TROUPE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/troupe)

install(TARGETS troupe EXPORT troupeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(TARGETS troupe_static EXPORT troupeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/include/troupe.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/troupe
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev FILES_MATCHING PATTERN "*.h")

# ---- pkg-config ----
# Requires: what the public headers include (msgpack.h); Requires.private: what only the
# library uses, which `pkg-config --static` adds for libtroupe.a.
set(TROUPE_PC_REQUIRES "")
set(TROUPE_PC_REQUIRES_PRIVATE "")
foreach(kind PUBLIC PRIVATE)
  set(modules "")
  foreach(dep IN LISTS TROUPE_${kind}_DEPS)
    string(REGEX REPLACE "^[^=]*=" "" module "${dep}")
    list(APPEND modules ${module})
  endforeach()
  list(JOIN modules ", " modules)
  if(kind STREQUAL "PUBLIC")
    set(TROUPE_PC_REQUIRES "${modules}")
  else()
    set(TROUPE_PC_REQUIRES_PRIVATE "${modules}")
  endif()
endforeach()
# The prefix is the one of the install (`cmake --install --prefix DIR`, or /usr for the .deb
# that cpack makes), not the one configured: the first configure_file leaves
# @CMAKE_INSTALL_PREFIX@ in place, the second, at install time, fills it in.
set(TROUPE_PC_PREFIX "@CMAKE_INSTALL_PREFIX@")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(TROUPE_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(TROUPE_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/troupe.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc.in
  @ONLY)
install(CODE "configure_file(\"${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc.in\"
                             \"${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc\" @ONLY)"
  COMPONENT dev)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# ---- CMake: find_package(troupe) ----
include(CMakePackageConfigHelpers)
list(JOIN TROUPE_PUBLIC_DEPS " " TROUPE_CONFIG_DEPS)
list(JOIN TROUPE_PRIVATE_DEPS " " deps)
string(APPEND TROUPE_CONFIG_DEPS " ${deps}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/troupeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/troupeConfig.cmake INSTALL_DESTINATION ${TROUPE_CMAKE_DIR})
# libtroupe.so.0 is every 0.x: the soname is the major version, and so is the compatibility.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/troupeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/troupeConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/troupeConfigVersion.cmake
  DESTINATION ${TROUPE_CMAKE_DIR} COMPONENT dev)
install(EXPORT troupeTargets NAMESPACE troupe:: DESTINATION ${TROUPE_CMAKE_DIR} COMPONENT dev)

# ---- programs ----
# tr_install_program(TARGET [MAN]): TARGET into bin; with MAN also its man page,
# docs/man/TARGET.1, gzipped at build time (as Debian's policy wants) into man1. Both go to
# the tools component. The targets installed are listed in the global property
# TROUPE_INSTALLED_PROGRAMS (cmake/package.cmake reads it).
function(tr_install_program target)
  install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  set_property(GLOBAL APPEND PROPERTY TROUPE_INSTALLED_PROGRAMS ${target})
  if(NOT ARGN STREQUAL "MAN")
    return()
  endif()
  find_program(TROUPE_GZIP gzip REQUIRED)
  set(page ${PROJECT_SOURCE_DIR}/docs/man/${target}.1)
  set(gz ${PROJECT_BINARY_DIR}/man/${target}.1.gz)
  # -n: no name nor time stamp inside, so the same page makes the same bytes.
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${TROUPE_GZIP} -9 -n -c ${page} > ${gz}
    DEPENDS ${page} COMMENT "Compressing man page ${target}.1")
  add_custom_target(${target}-man ALL DEPENDS ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tools)
endfunction()
