# hfedmoe_emu: the whole `hfedmoe` program with its CUDA backend running on the CPU emulation
# (this folder), so the device code paths of the commands (run.backend=cuda: device-resident
# model, host mirrors, pinning, pretrain/eval/train) run end to end without a GPU
# (tests/cli/test_train_cuda.sh). The kernels are cuda/*.cu rewritten by rewrite_launches.py
# and compiled by the host compiler; emu_runtime.cc stands in for the CUDA runtime, cuBLAS
# (as OpenBLAS) and cuda/device.cu. Included from tests/CMakeLists.txt.
set(EMU_OUT ${CMAKE_BINARY_DIR}/cuda_emu_cmake)
file(GLOB EMU_KERNELS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cuda/*.cu)
list(REMOVE_ITEM EMU_KERNELS ${CMAKE_SOURCE_DIR}/cuda/device.cu)
set(EMU_SOURCES)
foreach(cu ${EMU_KERNELS})
  get_filename_component(name ${cu} NAME_WE)
  add_custom_command(OUTPUT ${EMU_OUT}/${name}.cpp
    COMMAND ${CMAKE_COMMAND} -E make_directory ${EMU_OUT}
    COMMAND python3 ${CMAKE_SOURCE_DIR}/cuda/emu/rewrite_launches.py ${cu} > ${EMU_OUT}/${name}.cpp
    DEPENDS ${cu} ${CMAKE_SOURCE_DIR}/cuda/emu/rewrite_launches.py
    COMMENT "emulating ${name}.cu")
  list(APPEND EMU_SOURCES ${EMU_OUT}/${name}.cpp)
endforeach()
# The emulated CUDA backend once, as objects; backend.cpp again, with the CUDA branch, whatever
# this build has (the linker takes these objects before the core library's members).
add_library(hfedmoe_emu_backend OBJECT ${CMAKE_SOURCE_DIR}/src/cli/backend.cpp
  ${CMAKE_SOURCE_DIR}/cuda/emu/emu_runtime.cc ${EMU_SOURCES})
target_include_directories(hfedmoe_emu_backend BEFORE PRIVATE ${CMAKE_SOURCE_DIR}/cuda/emu)
target_compile_definitions(hfedmoe_emu_backend PRIVATE HFEDMOE_HAVE_CUDA=1)
target_compile_options(hfedmoe_emu_backend PRIVATE -Wno-unused-parameter -Wno-unused-function)
target_link_libraries(hfedmoe_emu_backend PRIVATE hfedmoe_core)

# name: a program of this build (main source) linked with the emulated backend.
function(hfedmoe_emu_program name main)
  add_executable(${name} ${main} $<TARGET_OBJECTS:hfedmoe_emu_backend>)
  target_include_directories(${name} BEFORE PRIVATE ${CMAKE_SOURCE_DIR}/cuda/emu)
  target_compile_definitions(${name} PRIVATE HFEDMOE_HAVE_CUDA=1)
  target_link_libraries(${name} PRIVATE hfedmoe_core)
endfunction()
hfedmoe_emu_program(hfedmoe_emu ${CMAKE_SOURCE_DIR}/src/main.cpp)
# The GPU benchmarks' code paths, checked before GPU time is spent on them (ctest bench_cuda_model_emu,
# bench_cuda_attention_emu).
hfedmoe_emu_program(bench_cuda_model_emu ${CMAKE_SOURCE_DIR}/bench/bench_cuda_model.cpp)
hfedmoe_emu_program(bench_cuda_attention_emu ${CMAKE_SOURCE_DIR}/bench/bench_cuda_attention.cpp)
