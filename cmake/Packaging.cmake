# Debian packages (issue 18; README "Install on Debian", docs/operations.md):
#   ketenpoort-gateway   the central broker, its unit, its user (postinst)
#   ketenpoort-agent     a partner's agent, its unit, its user
#   ketenpoort           the command for coordinators, privacy officers,
#                        partner IT and operators, with the console (its
#                        templates are compiled in: console/CMakeLists.txt)
# Built by `./run package` (cpack -G DEB in build/); installed and purged
# again by tests/package. The libraries a binary needs become Depends through
# dpkg-shlibdeps, so a package names exactly the Debian 12 libraries it was
# linked with.
#
# The components are the install() COMPONENTs of gateway/, agent/ and cli/
# (the binaries) and the files below. `cpack` packs what the build made: it
# does not build (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY), so a test may run it
# beside other tests, and `./run package` builds first.

include(GNUInstallDirs)
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(KP_PACKAGE_MAINTAINER "Ketenpoort project <ketenpoort@example.org>"
    CACHE STRING "The Maintainer field of the Debian packages (Name <address>)")
set(KP_PACKAGE_RELEASE "1" CACHE STRING "The Debian revision of the packages (the part after the -)")
set(KP_DEBIAN_DIR ${PROJECT_SOURCE_DIR}/deploy/debian)
set(KP_PACKAGE_BUILD_DIR ${PROJECT_BINARY_DIR}/packaging)

# Units in /lib/systemd/system: Debian 12's place for a package's units.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/ketenpoort-gateway.service
        DESTINATION /lib/systemd/system COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/ketenpoort-agent.service
        DESTINATION /lib/systemd/system COMPONENT agent)
# The example configurations as conffiles: an upgrade keeps the edited ones.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/gateway.example.yaml
        DESTINATION /etc/ketenpoort RENAME gateway.yaml COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/agent.sqlite.example.yaml
        DESTINATION /etc/ketenpoort RENAME agent.yaml COMPONENT agent)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/agent.sqlite.example.yaml
              ${PROJECT_SOURCE_DIR}/deploy/agent.command.example.yaml
              ${PROJECT_SOURCE_DIR}/deploy/agent.json-files.example.yaml
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/ketenpoort-agent/examples COMPONENT agent)

# For each package: the documentation partner IT and the operator read, the
# copyright file and a changelog (Debian policy 12.5, 12.7), and for the
# services the maintainer scripts made from the templates in deploy/debian.
string(TIMESTAMP KP_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
find_program(KP_GZIP gzip REQUIRED)
function(kp_package COMPONENT PACKAGE)
  cmake_parse_arguments(KP "" "SERVICE;MAN" "DOCS" ${ARGN})
  set(docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/${PACKAGE})
  set(out ${KP_PACKAGE_BUILD_DIR}/${PACKAGE})
  install(FILES ${KP_DEBIAN_DIR}/copyright ${KP_DOCS} DESTINATION ${docdir} COMPONENT ${COMPONENT})
  # Tags that do not apply to a package built outside the Debian archive
  # (deploy/debian/lintian-overrides.in says why, tag by tag).
  configure_file(${KP_DEBIAN_DIR}/lintian-overrides.in ${out}/lintian/${PACKAGE} @ONLY)
  install(FILES ${out}/lintian/${PACKAGE} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides COMPONENT ${COMPONENT})
  # changelog.Debian.gz: gzip -9n (no name, no time), as lintian asks. The
  # commit is the one configure saw; --version names the one the binary was built from.
  execute_process(COMMAND git -C ${PROJECT_SOURCE_DIR} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR COMMIT STREQUAL "")
    set(COMMIT unknown)
  endif()
  set(DEB_VERSION ${PROJECT_VERSION}-${KP_PACKAGE_RELEASE})
  set(MAINTAINER ${KP_PACKAGE_MAINTAINER})
  set(DATE ${KP_PACKAGE_DATE})
  configure_file(${KP_DEBIAN_DIR}/changelog.in ${out}/changelog.Debian @ONLY)
  execute_process(COMMAND ${KP_GZIP} -9nf ${out}/changelog.Debian RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip of ${out}/changelog.Debian failed")
  endif()
  install(FILES ${out}/changelog.Debian.gz DESTINATION ${docdir} COMPONENT ${COMPONENT})
  # The manual page (deploy/man), compressed the same way.
  get_filename_component(man_name ${KP_MAN} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" man_section ${man_name})
  configure_file(${KP_MAN} ${out}/man/${man_name} COPYONLY)
  execute_process(COMMAND ${KP_GZIP} -9nf ${out}/man/${man_name} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip of ${out}/man/${man_name} failed")
  endif()
  install(FILES ${out}/man/${man_name}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${man_section} COMPONENT ${COMPONENT})
  string(TOUPPER ${COMPONENT} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME ${PACKAGE} PARENT_SCOPE)
  if(KP_SERVICE)
    set(SERVICE ${KP_SERVICE})
    set(USER ${PACKAGE})
    set(extra)
    foreach(script postinst prerm postrm conffiles)
      configure_file(${KP_DEBIAN_DIR}/${script}.in ${out}/${script} @ONLY
                     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
      list(APPEND extra ${out}/${script})
    endforeach()
    file(CHMOD ${out}/conffiles PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA "${extra}" PARENT_SCOPE)
  endif()
endfunction()

kp_package(gateway ketenpoort-gateway SERVICE gateway MAN ${PROJECT_SOURCE_DIR}/deploy/man/ketenpoort-gateway.8
  DOCS ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/protocol.md)
kp_package(agent ketenpoort-agent SERVICE agent MAN ${PROJECT_SOURCE_DIR}/deploy/man/ketenpoort-agent.8
  DOCS ${PROJECT_SOURCE_DIR}/docs/agent.md ${PROJECT_SOURCE_DIR}/docs/operations.md)
kp_package(cli ketenpoort MAN ${PROJECT_SOURCE_DIR}/deploy/man/ketenpoort.1
  DOCS ${PROJECT_SOURCE_DIR}/docs/cli.md ${PROJECT_SOURCE_DIR}/docs/console.md)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ketenpoort)
set(CPACK_PACKAGE_VENDOR "Ketenpoort project")
set(CPACK_PACKAGE_CONTACT ${KP_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL gateway agent cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KP_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${KP_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# postinst makes the service's user with adduser; the units' helpers
# (deb-systemd-helper, deb-systemd-invoke) come from init-system-helpers.
set(CPACK_DEBIAN_GATEWAY_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.54)")
# Partner IT makes the agent's keys with `ketenpoort keygen`.
set(CPACK_DEBIAN_GATEWAY_PACKAGE_RECOMMENDS "ketenpoort")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "ketenpoort")
set(CPACK_DEBIAN_GATEWAY_DESCRIPTION "Ketenpoort gateway: central broker of a Veiligheidsteam region
The gateway relays sealed requests and answers between the participants of
a Veiligheidsteam region (partner agents, coordinators, privacy officers),
keeps the cases and a signed, append-only audit log, and never sees the
content of what it relays. Runs as the systemd service ketenpoort-gateway.")
set(CPACK_DEBIAN_AGENT_DESCRIPTION "Ketenpoort agent: answers authorised requests from a partner's data
The agent runs at each partner organisation of a Veiligheidsteam region. It
answers requests the region's policy allows from the partner's own sources
(SQLite, PostgreSQL, HTTPS, a command), seals the answers for the
coordinator and keeps its own disclosure log. Runs as the systemd service
ketenpoort-agent.")
set(CPACK_DEBIAN_CLI_DESCRIPTION "command and web console for Ketenpoort coordinators and operators
The ketenpoort command makes keys, signs the registry and the policy, opens
and works cases for coordinators, pulls and verifies the audit log for
privacy officers, and serves the coordinator's web console on the local
machine (its pages are compiled into the program).")
include(CPack)
