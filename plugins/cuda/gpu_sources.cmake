# The GPU backends' shared sources, in one place: the CUDA plugin (plugins/cuda), the HIP plugin
# (plugins/hip, hipcc with DIO_GPU_HIP) and the tests' SIMT emulator plugin (tests/gpu_emu) each build
# these, adding only their own GEMM file. Host code is C; device code .cu, one op family per file.
set(DIO_GPU_SHARED_C
  cuda_backend.c cuda_common.c cuda_elementwise.c cuda_matmul_plan.c cuda_layout.c cuda_norm.c
  cuda_rope.c cuda_attention.c cuda_conv.c)
set(DIO_GPU_SHARED_CU
  cuda_elementwise_kernels.cu cuda_gemm_tiled_kernels.cu cuda_layout_kernels.cu cuda_norm_kernels.cu
  cuda_rope_kernels.cu cuda_attention_kernels.cu cuda_conv_kernels.cu)
