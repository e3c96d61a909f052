using Federated.Simulator;

return ExperimentCommand.Run(args, Console.Out, Console.Error);
