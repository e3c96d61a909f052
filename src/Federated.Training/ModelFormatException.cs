using Federated.Core.Adapters;

namespace Federated.Training;

/// <summary>
/// A base-model directory or one of its files (tokenizer, config, weights) is missing, malformed or unsupported.
/// Derives from <see cref="AdapterFormatException"/> because a base model is what an adapter is applied to,
/// and so that every command already reporting adapter format errors reports these the same way.
/// </summary>
public class ModelFormatException(string message, Exception? inner = null) : AdapterFormatException(message, inner);
