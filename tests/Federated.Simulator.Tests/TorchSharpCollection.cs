namespace Federated.Simulator.Tests;

/// <summary>
/// The simulator's tests train side by side with their own threads, and TorchSharp leaves the scalars it makes inside
/// operators to the finalizer (see Federated.Core.Runtime.NativeWork): a collection one test class forces between its
/// training steps can free a scalar another class is using outside any scope, which in a Release build silently changes
/// a number (the reproducibility test saw it). Classes in one collection run one after the other.
/// </summary>
[CollectionDefinition(Name)]
public sealed class TorchSharpCollection
{
    public const string Name = "torchsharp";
}
