namespace Federated.Core.Adapters;

/// <summary>Base of every error Federated.Core reports about adapters and their files.</summary>
public class AdapterException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A module's factors are inconsistent (rank, dimensions, dtype, alpha).</summary>
public class AdapterShapeException(string message) : AdapterException(message);

/// <summary>Adapters that a strategy was asked to combine are not compatible with it.</summary>
public class IncompatibleAdaptersException(string message) : AdapterException(message);

/// <summary>An adapter directory or file is missing, malformed, or inconsistent with its config.</summary>
public class AdapterFormatException(string message, Exception? inner = null) : AdapterException(message, inner);
