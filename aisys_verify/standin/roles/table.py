"""Which behaviour each agent gets: a default table keyed by agent name, overridable per agent
with ``role:`` in the startup config. Roles also declare the agents they call at run time
(beyond the start-up ``dependencies``), so that those edges can be proxied and faulted too.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("registry", "twin", "coordinator", "memory", "memory-client", "language", "gpu", "observability",
         "gateway", "generic")

DEFAULT_ROLES: dict[str, str] = {
    "ServiceRegistry": "registry",
    "SystemDigitalTwin": "twin",
    "RequestCoordinator": "coordinator",
    "MemoryClient": "memory-client",
    "MemoryOrchestratorService": "memory",
    "SessionMemoryAgent": "memory",
    "KnowledgeBase": "memory",
    "NLUAgent": "language",
    "ChitchatAgent": "language",
    "Responder": "language",
    "IntentionValidatorAgent": "language",
    "TranslationService": "language",
    "FixedStreamingTranslation": "language",
    "StreamingLanguageAnalyzer": "language",
    "ModelManagerSuite": "gpu",
    "FaceRecognitionAgent": "gpu",
    "STTService": "gpu",
    "TTSService": "gpu",
    "StreamingTTSAgent": "gpu",
    "StreamingSpeechRecognition": "gpu",
    "ChainOfThoughtAgent": "gpu",
    "GoTToTAgent": "gpu",
    "CognitiveModelAgent": "gpu",
    "TinyLlamaServiceEnhanced": "gpu",
    "NLLBAdapter": "gpu",
    "SelfTrainingOrchestrator": "gpu",
    "LocalFineTunerAgent": "gpu",
    "LearningAdjusterAgent": "gpu",
    "VisionProcessingAgent": "gpu",
    "DreamWorldAgent": "gpu",
    "DreamingModeAgent": "gpu",
    "ObservabilityHub": "observability",
    "UnifiedWebAgent": "gateway",
}

# Run-time calls per role, by agent name: (name, critical). A non-critical target being down
# degrades an answer instead of failing it.
ROLE_CALLS: dict[str, tuple[tuple[str, bool], ...]] = {
    "coordinator": (("NLUAgent", True), ("ChitchatAgent", True), ("MemoryClient", False),
                    ("StreamingTTSAgent", False), ("ChainOfThoughtAgent", False)),
    "memory-client": (("MemoryOrchestratorService", True),),
    "gateway": (("RequestCoordinator", True), ("MemoryOrchestratorService", True)),
}


@dataclass(frozen=True)
class RoleChoice:
    role: str
    source: str  # "spec" or "default table"


def role_for(name: str, declared: str | None) -> RoleChoice:
    if declared:
        return RoleChoice(declared, "spec")
    return RoleChoice(DEFAULT_ROLES.get(name, "generic"), "default table")
