using Federated.Core.Runtime;
using Federated.Simulator;

NativeAllocator.RetainFreedMemory(); // the embedded coordinator aggregates and the attacks craft in the same large buffers round after round
MklDispatch.UseAvx512OnAmd(); // before any tensor work: MKL's AVX-512 kernels on AMD CPUs too
return ExperimentCommand.Run(args, Console.Out, Console.Error);
