using Federated.Cli;
using Federated.Core.Runtime;

NativeAllocator.RetainFreedMemory();
return FedCommandLine.Run(args, Console.Out, Console.Error);
