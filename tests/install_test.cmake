# The install test: tracebox as another project sees it.
#
#   cmake -DBINARY_DIR=<tracebox build> -DSOURCE_DIR=<tracebox source> -DWORK_DIR=<scratch dir>
#         -DLIBDIR=<CMAKE_INSTALL_LIBDIR> -DTRACEE=<tracebox_tracee> [-DCONFIG=<config>]
#         [-DBUILD_TARGETS=a;b] [-DRUNPROG=ON] [-DCXX_COMPILER=<c++>] [-DSANITIZE=ON]
#         -P install_test.cmake
#
# Builds the installed targets, installs the build into WORK_DIR/prefix, configures and builds
# examples/ against that prefix with find_package(tracebox), runs grading_service on the test
# tracee (the installed default profile, owned I/O, a bound on the runs in flight), and checks
# every line it prints. Any mismatch is a FATAL_ERROR (a failed test).
cmake_minimum_required(VERSION 3.25)

foreach(var BINARY_DIR SOURCE_DIR WORK_DIR LIBDIR TRACEE)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install_test: -D${var}=... is required")
  endif()
endforeach()
if(TRACEE MATCHES "[ \t]")
  message(FATAL_ERROR "install_test: the tracee path has blanks, a batch line cannot hold it: ${TRACEE}")
endif()

set(prefix "${WORK_DIR}/prefix")
set(example_build "${WORK_DIR}/examples")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

# Runs a command; on failure shows its output and fails the test.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 600)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_test: ${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "install_test: ${what}: ok")
endfunction()

function(expect_exists path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "install_test: not installed: ${path}")
  endif()
endfunction()

# 1. What gets installed must be built (a no-op after a full build).
if(BUILD_TARGETS)
  run_step("build ${BUILD_TARGETS}" "${CMAKE_COMMAND}" --build "${BINARY_DIR}" ${config_args}
           --target ${BUILD_TARGETS})
endif()

# 2. Install into a fresh prefix.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
run_step("install" "${CMAKE_COMMAND}" --install "${BINARY_DIR}" --prefix "${prefix}" ${config_args})

foreach(lib util rlimit mount seccomp forkexec tracer)
  file(GLOB_RECURSE headers RELATIVE "${SOURCE_DIR}/${lib}/include"
       "${SOURCE_DIR}/${lib}/include/tracebox/*.h")
  if(NOT headers)
    message(FATAL_ERROR "install_test: no public headers found in ${SOURCE_DIR}/${lib}/include")
  endif()
  foreach(h IN LISTS headers)
    expect_exists("${prefix}/include/${h}")
  endforeach()
  file(GLOB archives "${prefix}/${LIBDIR}/libtracebox_${lib}.*")
  if(NOT archives)
    message(FATAL_ERROR "install_test: no library tracebox_${lib} in ${prefix}/${LIBDIR}")
  endif()
endforeach()
expect_exists("${prefix}/${LIBDIR}/cmake/tracebox/traceboxConfig.cmake")
expect_exists("${prefix}/${LIBDIR}/cmake/tracebox/traceboxConfigVersion.cmake")
expect_exists("${prefix}/${LIBDIR}/cmake/tracebox/traceboxTargets.cmake")
expect_exists("${prefix}/share/tracebox/profiles/default.json")  # the library's (profile.h)
if(RUNPROG)
  expect_exists("${prefix}/bin/runprog")
endif()

# 3. Build examples/ against the prefix, as a separate project would. The package registries are
# off so that only the prefix can provide tracebox.
set(example_args
    -S "${SOURCE_DIR}/examples" -B "${example_build}" "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(CXX_COMPILER)
  list(APPEND example_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(SANITIZE)
  # The installed static libraries are instrumented: their users link the runtimes.
  list(APPEND example_args "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
endif()
run_step("configure examples" "${CMAKE_COMMAND}" ${example_args})

file(STRINGS "${example_build}/CMakeCache.txt" found_dir REGEX "^tracebox_DIR:")
string(REGEX REPLACE "^[^=]*=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_dir)
file(REAL_PATH "${prefix}/${LIBDIR}/cmake/tracebox" want_dir)
if(NOT found_dir STREQUAL want_dir)
  message(FATAL_ERROR "install_test: tracebox found in '${found_dir}', not in '${want_dir}'")
endif()

run_step("build examples" "${CMAKE_COMMAND}" --build "${example_build}")
set(grading_service "${example_build}/grading_service")
expect_exists("${grading_service}")

# 4. Run a batch: one line per submission, in input order, with the exact verdicts.
#    <index> <status> <time_ms> <memory_KiB> <exit_status> <output_bytes>
#    The default profile is found by name in the installed profiles (the prefix's, wherever it
#    went); stdin comes from a file ("< FILE"), stdout is captured with a maximum.
set(cpu_ms 200)
file(WRITE "${WORK_DIR}/input.txt" "three lines\nof\ninput\n")
file(WRITE "${WORK_DIR}/batch.txt"
     "# index 1..7\n"
     "${TRACEE} exit 0\n"
     "${TRACEE} exit 3\n"
     "\n"
     "${TRACEE} segv\n"
     "${TRACEE} spin\n"
     "${TRACEE} call getppid\n"
     "${TRACEE} copy < ${WORK_DIR}/input.txt\n"
     "${TRACEE} output-bytes 1000000\n")
set(n "[0-9]+")
set(expected
    "1 normal ${n} ${n} 0 0"
    "2 nonzero_exit_status ${n} ${n} 3 0"
    "3 signalled ${n} ${n} 11 0"
    "4 time_limit_exceeded (${n}) ${n} ${n} 0"
    "5 disallowed_syscall ${n} ${n} ${n} 0"
    "6 normal ${n} ${n} 0 21"
    "7 output_limit_exceeded ${n} ${n} ${n} 65536")

execute_process(COMMAND "${grading_service}" --cpu-ms ${cpu_ms} --memory-mib 64 --output-kib 64
                        --in-flight 3 --batch "${WORK_DIR}/batch.txt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
message(STATUS "install_test: grading_service printed:\n${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install_test: grading_service exited with '${rc}', want 0:\n${out}\n${err}")
endif()
string(REGEX REPLACE "\n$" "" out "${out}")
string(REPLACE "\n" ";" lines "${out}")
list(LENGTH lines got_count)
list(LENGTH expected want_count)
if(NOT got_count EQUAL want_count)
  message(FATAL_ERROR "install_test: ${got_count} lines, want ${want_count}:\n${out}")
endif()
foreach(i RANGE 1 ${want_count})
  math(EXPR k "${i} - 1")
  list(GET lines ${k} line)
  list(GET expected ${k} pattern)
  if(NOT line MATCHES "^${pattern}$")
    message(FATAL_ERROR "install_test: line ${i} is '${line}', want '${pattern}'")
  endif()
  if(i EQUAL 4 AND CMAKE_MATCH_1 LESS cpu_ms)
    message(FATAL_ERROR "install_test: the time limit ended a run after ${CMAKE_MATCH_1} ms of "
                        "CPU, before its ${cpu_ms} ms: '${line}'")
  endif()
endforeach()
if(NOT err MATCHES "submission 5: getppid is not allowed by the policy")
  message(FATAL_ERROR "install_test: the violation of submission 5 is not explained:\n${err}")
endif()
file(REAL_PATH "${prefix}/share/tracebox/profiles/default.json" installed_default)
if(NOT err MATCHES "grading_service: profile default \\(([^)\n]*)\\)")
  message(FATAL_ERROR "install_test: grading_service did not say which profile it loaded:\n${err}")
endif()
file(REAL_PATH "${CMAKE_MATCH_1}" loaded_default)
if(NOT loaded_default STREQUAL installed_default)
  message(FATAL_ERROR "install_test: the default profile came from ${CMAKE_MATCH_1}, not from the "
                      "installed ${installed_default}")
endif()

# 5. The programs form (no arguments: the tracee exits with 100), and bad input.
execute_process(COMMAND "${grading_service}" -- "${TRACEE}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^1 nonzero_exit_status ${n} ${n} 100 0\n$")
  message(FATAL_ERROR "install_test: grading_service -- tracee: exit '${rc}', printed:\n${out}\n${err}")
endif()
execute_process(COMMAND "${grading_service}" -- "${WORK_DIR}/no-such-program"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL 2 OR NOT out STREQUAL "" OR NOT err MATCHES "not an executable file")
  message(FATAL_ERROR "install_test: a missing program: exit '${rc}' (want 2), printed:\n${out}\n${err}")
endif()

# 6. The interactive example: a solution and a testlib-style interactor as one run group.
set(interactive "${example_build}/interactive")
expect_exists("${interactive}")
# The interactor opens its input by name as the sandbox user, who may not reach WORK_DIR (a
# checkout in /root, mode 0700): the input goes to a directory of its own under /tmp.
string(RANDOM LENGTH 10 suffix)
set(reachable "/tmp/tracebox-install-${suffix}")
file(MAKE_DIRECTORY "${reachable}")
file(CHMOD "${reachable}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
     GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(WRITE "${reachable}/secret.txt" "777777\n")
file(CHMOD "${reachable}/secret.txt" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
foreach(case "right;accepted;ok found 777777" "wrong;wrong_answer;wrong answer answered 777778"
             "flood;output_limit_exceeded;wrong answer unexpected EOF"
             "early;wrong_answer;wrong answer unexpected EOF after 1 questions")
  list(GET case 0 mode)
  list(GET case 1 want)
  list(GET case 2 want_output)
  execute_process(COMMAND "${interactive}" "${reachable}/secret.txt" "${INTERACTOR}" -- "${GUESSER}" ${mode}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "\nverdict ${want}\n$" OR NOT out MATCHES "\noutput ${want_output}")
    file(REMOVE_RECURSE "${reachable}")
    message(FATAL_ERROR "install_test: interactive (${mode}): exit '${rc}', want verdict ${want}, printed:\n${out}\n${err}")
  endif()
endforeach()
file(REMOVE_RECURSE "${reachable}")
string(FIND "${out}" "\ntranscript ? 500000\\n\n" at)
if(at EQUAL -1)
  message(FATAL_ERROR "install_test: interactive (early): no transcript of the question:\n${out}")
endif()
message(STATUS "install_test: passed")
