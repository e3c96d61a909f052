using Federated.Core.Runtime;
using Federated.Simulator;

MklDispatch.UseAvx512OnAmd(); // before any tensor work: MKL's AVX-512 kernels on AMD CPUs too
return ExperimentCommand.Run(args, Console.Out, Console.Error);
