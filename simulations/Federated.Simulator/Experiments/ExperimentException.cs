namespace Federated.Simulator.Experiments;

/// <summary>An experiment file that cannot run; the message names the file and the offending setting.</summary>
public sealed class ExperimentException(string message, Exception? inner = null) : Exception(message, inner);
