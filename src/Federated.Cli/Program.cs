using Federated.Cli;

return FedCommandLine.Run(args, Console.Out, Console.Error);
