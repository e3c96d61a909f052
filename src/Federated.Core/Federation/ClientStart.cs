namespace Federated.Core.Federation;

/// <summary>Where a selected client's LoRA branches start in a round.</summary>
public enum ClientStart
{
    /// <summary>Fresh branches at the client's rank (A seeded, B = 0) on a base holding the merged history (FLoRA).</summary>
    FreshBranches,
    /// <summary>The adapter the federation hands this client at its rank (the live adapter, or its truncation); fresh only while there is none.</summary>
    FromInit,
}
