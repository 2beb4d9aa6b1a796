# The tool as people install it (docs/shipping.md): the manual, the shell completions and the docs
# beside the binary (component `tool`), and a Debian package of that component made by CPack:
#   cmake --build build --target package     (or: cd build && cpack -G DEB)
# Paths below are relative to the install prefix unless a shell's own configuration says otherwise,
# so that `cmake --install` (prefix /usr/local) and the package (prefix /usr) both put each file
# where its reader looks.

# The manual, compressed as Debian policy wants it (man reads it either way); -n: no name or time
# stamp in the file, so the package is reproducible.
set(CTXRUN_MAN_GZ ${PROJECT_BINARY_DIR}/ctxrun.1.gz)
add_custom_command(OUTPUT ${CTXRUN_MAN_GZ}
  COMMAND sh -c "gzip -9n -c \"$1\" > \"$2\"" sh ${PROJECT_SOURCE_DIR}/man/ctxrun.1 ${CTXRUN_MAN_GZ}
  DEPENDS ${PROJECT_SOURCE_DIR}/man/ctxrun.1 VERBATIM)
add_custom_target(ctxrun_man ALL DEPENDS ${CTXRUN_MAN_GZ})
install(FILES ${CTXRUN_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tool)

# A pkg-config variable of a shell's package, relative to that package's own prefix when it is
# below it (bash-completion's completionsdir /usr/share/bash-completion/completions gives
# share/bash-completion/completions), so that it follows our prefix; `fallback` if there is none.
function(ctxrun_shell_dir out package variable fallback)
  set(dir "${fallback}")
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=${variable} ${package}
      OUTPUT_VARIABLE found OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE failed ERROR_QUIET)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=prefix ${package}
      OUTPUT_VARIABLE prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT failed AND found)
      if(prefix AND found MATCHES "^${prefix}/(.+)$")
        set(dir "${CMAKE_MATCH_1}")
      else()
        set(dir "${found}")
      endif()
    endif()
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

ctxrun_shell_dir(bash_dir bash-completion completionsdir ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
ctxrun_shell_dir(fish_dir fish completionsdir ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
set(CTXRUN_BASH_COMPLETION_DIR "${bash_dir}" CACHE STRING "Where the bash completion goes (bash-completion's completionsdir)")
set(CTXRUN_FISH_COMPLETION_DIR "${fish_dir}" CACHE STRING "Where the fish completion goes (fish's completionsdir)")
# zsh has no pkg-config file. Debian's zsh reads /usr/share/zsh/vendor-completions (for packages)
# and /usr/local/share/zsh/site-functions (for the rest): which one depends on the prefix at
# install time (the package installs with /usr), so it is chosen then. Set this to choose yourself.
set(CTXRUN_ZSH_COMPLETION_DIR "" CACHE STRING "Where the zsh completion goes (default: share/zsh/vendor-completions under /usr, share/zsh/site-functions elsewhere)")

install(FILES completions/ctxrun.bash RENAME ctxrun DESTINATION ${CTXRUN_BASH_COMPLETION_DIR} COMPONENT tool)
install(FILES completions/ctxrun.fish DESTINATION ${CTXRUN_FISH_COMPLETION_DIR} COMPONENT tool)
if(CTXRUN_ZSH_COMPLETION_DIR)
  install(FILES completions/_ctxrun DESTINATION ${CTXRUN_ZSH_COMPLETION_DIR} COMPONENT tool)
else()
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(zsh_dir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions\")
    else()
      set(zsh_dir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/zsh/site-functions\")
    endif()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/completions/_ctxrun\" DESTINATION \"\${zsh_dir}\")
  " COMPONENT tool)
endif()

# The docs a user of the tool reads (the library's go with the library), a copyright file and a
# changelog, as every Debian package has them.
set(CTXRUN_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/ctxrun)
install(FILES README.md docs/design.md docs/report.md docs/shipping.md packaging/copyright
  DESTINATION ${CTXRUN_DOC_DIR} COMPONENT tool)
set(CTXRUN_CHANGELOG_GZ ${PROJECT_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${CTXRUN_CHANGELOG_GZ}
  COMMAND sh -c "gzip -9n -c \"$1\" > \"$2\"" sh ${PROJECT_SOURCE_DIR}/packaging/changelog ${CTXRUN_CHANGELOG_GZ}
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/changelog VERBATIM)
add_custom_target(ctxrun_changelog ALL DEPENDS ${CTXRUN_CHANGELOG_GZ})
install(FILES ${CTXRUN_CHANGELOG_GZ} DESTINATION ${CTXRUN_DOC_DIR} COMPONENT tool)
# lintian takes a static-pie ctxrun for a shared library without its prerequisites (the file says why).
if(CTXRUN_LINK_STATIC_PIE)
  install(FILES packaging/lintian-overrides RENAME ctxrun DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
    COMPONENT tool)
endif()

# The Debian package: component `tool` alone (the library's archive and headers stay out), under
# /usr, stripped, its Depends computed by dpkg-shlibdeps from what the binaries really link (libc6,
# for ctxrun-libcurl beside a static-pie ctxrun, or for a ctxrun with the static runtime; nothing for
# CTXRUN_FULLY_STATIC).
# cpack builds nothing: its "preinstall" step would otherwise build the whole tree first, in the
# middle of a test run when the tree is stale (the package test reads what the build made, as the
# library consumer test does). `--target package` still builds `all` first; `cmake --install`
# never builds.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ctxrun)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ctxrun maintainers <maintainers@users.noreply.r-seed-1affbc4c.example>" CACHE STRING
  "The package's Maintainer")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "run a command under a deadline and tear down its whole process tree")
set(CPACK_PACKAGE_DESCRIPTION "ctxrun runs a command under a context, as Go's context package:
a deadline (relative, absolute, or inherited from an enclosing ctxrun)
and cancellation by signal. When the context ends, or the command
returns and leaves processes behind, the whole process tree is torn
down, including processes that called setsid, double-forked, ignore
SIGTERM or are stopped. The exit status says what happened (124 for a
deadline, as GNU timeout). Invoked as timeout, it is a drop-in for
GNU coreutils' timeout.")
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};ctxrun;tool;/")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # ctxrun_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libcurl is loaded with dlopen (by ctxrun-libcurl where ctxrun is static-pie), only for http(s)://
# readiness probes and tcp:// ones to a host name (src/curl_api.h): dpkg-shlibdeps cannot see it, and ctxrun works
# without it (those probes then say how to get it).
if(CTXRUN_CURL)
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcurl4 (>= 7.80.0)")
endif()
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
include(CPack)
